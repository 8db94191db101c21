//! The JavaScript exports' JSON answers.

use super::*;

#[test]
fn the_exports_answer_json() {
    fn put(text: &str) {
        pg_input(text.len());
        PG.with_borrow_mut(|pg| pg.input.copy_from_slice(text.as_bytes()));
    }
    fn out(len: usize) -> serde_json::Value {
        PG.with_borrow(|pg| {
            assert_eq!(pg.output.len(), len);
            serde_json::from_slice(&pg.output).unwrap()
        })
    }
    let id = pg_new();
    put("capacity=400 descriptors=8");
    assert_eq!(out(pg_configure(id))["ok"], true);
    put("capacity=lots");
    assert!(
        out(pg_configure(id))["error"]
            .as_str()
            .unwrap()
            .contains("not a size")
    );
    put("alloc 100\nalloc 100\nalloc 100; alloc 100; free 1; free 3; alloc 200");
    let a = out(pg_exec(id));
    assert_eq!(a["ok"], true);
    assert_eq!(a["landed"], "failed");
    put("alloc 0");
    let a = out(pg_exec(id));
    assert_eq!(
        (a["ok"].clone(), a["index"].clone()),
        (false.into(), 0.into())
    );
    let v = out(pg_state(id, 1000, 100));
    assert_eq!(v["stats"]["free_bytes"], 200);
    assert_eq!(v["arenas"].as_array().unwrap().len(), 4);
    assert_eq!(v["table"].as_array().unwrap().len(), 8);
    let expected = PG.with_borrow(|pg| line(pg.sessions[id as usize].as_ref().unwrap()));
    assert_eq!(v["stats_line"], expected);
    put("tiny.trace\na 1 10\nf 1\n");
    assert_eq!(out(pg_load_trace(id, 0))["events"], 2);
    put("bad.trace\nz 1\n");
    assert_eq!(out(pg_load_trace(id, 0))["ok"], false);
    pg_drop(id);
    put("defrag");
    assert_eq!(out(pg_exec(id))["ok"], false);
}

#[test]
fn pg_check_and_pg_script_answer_json() {
    fn put(text: &str) {
        pg_input(text.len());
        PG.with_borrow_mut(|pg| pg.input.copy_from_slice(text.as_bytes()));
    }
    fn out(len: usize) -> serde_json::Value {
        PG.with_borrow(|pg| serde_json::from_slice(&pg.output).unwrap_or_else(|_| panic!("{len}")))
    }
    let id = pg_new();
    put("capacity=400 descriptors=8");
    assert_eq!(out(pg_configure(id))["ok"], true);
    put("alloc -5");
    let a = out(pg_check(id));
    assert_eq!(a["ok"], false);
    assert!(a["error"].as_str().unwrap().contains("not a size"));
    put("alloc 50");
    assert_eq!(out(pg_check(id))["ok"], true);
    // Checking ran nothing.
    put("alloc 100; allco 5");
    let a = out(pg_exec(id));
    assert_eq!(
        (a["index"].clone(), a["command"].clone()),
        (1.into(), "allco 5".into())
    );
    put("");
    let l = out(pg_script(id));
    assert_eq!(
        (l["script"].clone(), l["pos"].clone(), l["len"].clone()),
        ("alloc 100".into(), 1.into(), 1.into())
    );
    pg_drop(id);
}
