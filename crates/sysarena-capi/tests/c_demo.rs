//! Compiles the C examples (`examples/demo.c`, the process-wide heap;
//! `examples/block.c`, a block over a simulated device buffer with
//! defragmentation passes) against the generated header and this crate's
//! static library with the system C compiler (`$CC`, else `cc`) and
//! `-Wall -Wextra -Werror`, runs them, and checks that every check in them
//! passed; and `examples/block.cpp` the same way with the C++ compiler
//! (`$CXX`, else `c++`). A missing compiler fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `libsysarena_capi.a`, built by cargo next to this test's executable.
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let deps = exe.parent().expect("deps dir");
    let uplifted = deps
        .parent()
        .expect("profile dir")
        .join("libsysarena_capi.a");
    if uplifted.is_file() {
        return uplifted;
    }
    std::fs::read_dir(deps)
        .expect("read deps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("libsysarena_capi") && name.ends_with(".a")
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("libsysarena_capi.a next to the test (crate-type staticlib)")
}

/// Compiles `examples/{name}.c`, runs it and checks its last line.
fn run_example(name: &str, passed: &str) {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    build_and_run(&cc, "c11", &format!("{name}.c"), passed);
}

/// Compiles `examples/{file}` with `compiler` at language standard `std`,
/// runs it and checks its output.
fn build_and_run(compiler: &str, std: &str, file: &str, passed: &str) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sysarena-{file}"));
    let cc = compiler;
    let name = file;
    let status = Command::new(cc)
        .arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(manifest.join(format!("examples/{file}")))
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "compiling {name} failed");
    let run = Command::new(&out).output().expect("run the example");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    print!("{stdout}");
    assert!(run.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(passed), "{stdout}");
}

#[test]
fn c_example_runs() {
    run_example("demo", "all checks passed");
}

#[test]
fn c_block_example_defragments_a_device_buffer() {
    run_example("block", "block: all checks passed");
}

#[test]
fn cpp_block_example_defragments_a_device_buffer() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    build_and_run(&cxx, "c++17", "block.cpp", "block.cpp: all checks passed");
}
