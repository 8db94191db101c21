//! What the fuzz targets share: the checks of the fast model's quick lists
//! (`chaos`, `heap_patterns` and `movable` run them after every step).

pub mod quick;
