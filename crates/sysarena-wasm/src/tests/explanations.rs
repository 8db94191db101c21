//! The explanation line: why an operation did what it did, and what would
//! help when it failed.

use super::*;

#[test]
fn the_seeds_headline_fails_with_free_bytes_defrag_cannot_help_relocation_does() {
    let mut s = session(400, 8);
    run_script(
        &mut s,
        "alloc 100; alloc 100; alloc 100; alloc 100; free 1; free 3",
    )
    .unwrap();
    let log = run_script(&mut s, "alloc 200").unwrap();
    assert!(log[0].contains("although 200 B are free"), "{log:?}");
    assert!(log[0].contains("`defrag` cannot help"), "{log:?}");
    assert_eq!(s.landed(), Some(Landed::Failed));
    let log = run_script(&mut s, "defrag; alloc 200").unwrap();
    assert!(log[0].starts_with("✗ alloc(200) for #5 failed"), "{log:?}");
    let log = run_script(&mut s, "relocate").unwrap();
    assert!(log[0].contains("moved 1 live blocks"), "{log:?}");
    let log = run_script(&mut s, "alloc 200").unwrap();
    assert!(
        log[0].starts_with("✓ alloc(200) = #6 at offset 200"),
        "{log:?}"
    );
    // #2 moved from 200 to 100 and keeps its name.
    assert_eq!(s.owner(100), Some(Owner::Typed(2)));
    run_script(&mut s, "free 2").unwrap();
    assert_eq!(s.manager().arena_at(100).map(|a| a.in_use), Some(false));
    s.manager().check_invariants().unwrap();
}

#[test]
fn a_defrag_that_can_help_says_so() {
    let mut s = session(400, 8);
    let log = run_script(
        &mut s,
        "alloc 100; alloc 100; alloc 100; alloc 100; free 1; free 2; alloc 200",
    )
    .unwrap();
    assert!(log[0].contains("`defrag` would merge them"), "{log:?}");
}

#[test]
fn a_full_table_is_its_own_failure() {
    let mut s = session(1000, 2);
    let log = run_script(&mut s, "alloc 10; alloc 10").unwrap();
    assert!(log[0].contains("spare descriptor"), "{log:?}");
}

#[test]
fn explanations_name_the_policy_and_the_arena_taken() {
    let mut s = session(1000, 16);
    run_script(
        &mut s,
        "alloc 100; alloc 300; alloc 100; alloc 200; free 0; free 2; policy best-fit",
    )
    .unwrap();
    let log = run_script(&mut s, "alloc 50").unwrap();
    assert!(log[0].contains("best fit takes the smallest"), "{log:?}");
    assert!(log[0].contains("it took [0+100]"), "{log:?}");
    let log = run_script(&mut s, "alloc 60 64").unwrap();
    assert!(log[0].contains("align 64"), "{log:?}");
}

#[test]
fn a_free_under_immediate_coalescing_says_whether_it_merged() {
    let mut s = session(400, 8);
    run_script(
        &mut s,
        "coalescing immediate; alloc 100; alloc 100; alloc 100",
    )
    .unwrap();
    // #1's right neighbour is #2 (in use), its left #0 (in use).
    let log = run_script(&mut s, "free 1").unwrap();
    assert!(log[0].contains("no free neighbour"), "{log:?}");
    // #2 sits between the free #1 and the free tail: all three merge.
    let log = run_script(&mut s, "free 2").unwrap();
    assert!(
        log[0].contains("merged it with its free neighbours into [100+300]"),
        "{log:?}"
    );
    // #0 merges with the free arena on its right, starting where it starts.
    let log = run_script(&mut s, "free 0").unwrap();
    assert!(log[0].contains("into [0+400]"), "{log:?}");
}

#[test]
fn the_explanations_tell_the_quick_lists_story() {
    let mut s = fast(1024);
    run_script(&mut s, "alloc 32; alloc 32; alloc 960").unwrap();
    assert_eq!(
        run_script(&mut s, "free 0").unwrap(),
        [
            "✓ free #0 at offset 0; cached: it waits, whole, in the quick list of 32 B arenas for the next request of that size (its free neighbours merge with it only when the lists are flushed)"
        ]
    );
    assert_eq!(
        run_script(&mut s, "alloc 32").unwrap(),
        [
            "✓ alloc(32) = #3 at offset 0 (arena of 32 B in slot 0): taken back from the quick list of 32 B arenas — the one freed last, handed out whole with no search and no split"
        ]
    );
    run_script(&mut s, "free 3; free 1").unwrap();
    assert_eq!(
        run_script(&mut s, "alloc 64").unwrap(),
        [
            "✓ alloc(64) = #4 at offset 0 (arena of 64 B in slot 0): no free arena fitted, so the quick lists were flushed first: 2 cached arenas (64 B) freed for real, each merging with whatever free neighbours it has; then the request was tried again"
        ]
    );
    run_script(&mut s, "free 4").unwrap();
    assert_eq!(
        run_script(&mut s, "flush").unwrap(),
        [
            "flush: 1 cached arena (64 B) freed for real, none merged with a free neighbour; free arenas 1 → 1, largest free 64 B → 64 B"
        ]
    );
    assert_eq!(
        run_script(&mut s, "flush").unwrap(),
        ["flush: the quick lists are empty"]
    );
    run_script(&mut s, "coalescing deferred").unwrap();
    let log = run_script(&mut s, "coalescing immediate").unwrap();
    assert_eq!(
        log[0],
        format!(
            "now segregated-fit with immediate coalescing: {}; {}",
            explain::policy_rule(sysarena::Policy::SegregatedFit),
            explain::quick_lists()
        )
    );
}

#[test]
fn a_near_size_take_is_explained() {
    let mut s = fast(64 * 1024);
    run_script(&mut s, "alloc 1040; alloc 16").unwrap();
    assert_eq!(
        run_script(&mut s, "free 0").unwrap(),
        [
            "✓ free #0 at offset 0; cached: it waits, whole, in the quick list of 1.0 KiB arenas for the next request of that size or of a size at most a 64th smaller (its free neighbours merge with it only when the lists are flushed)"
        ]
    );
    assert_eq!(
        run_script(&mut s, "alloc 1024").unwrap(),
        [
            "✓ alloc(1024) = #2 at offset 0 (arena of 1.0 KiB in slot 0): taken from the quick list of 1040 B arenas, a near size — the list of 1024 B arenas was empty, and these are at most a 64th larger; handed out whole with no search and no split"
        ]
    );
}

#[test]
fn a_free_the_quick_lists_cannot_take_says_their_budget_is_full() {
    // 400 B: the lists may hold 25 B, so a freed 32 B arena is not cached.
    let mut s = Session::new(Settings {
        capacity: 400,
        descriptors: 8,
        config: sysarena::Config::fast(),
        handles: false,
    })
    .unwrap();
    let log = run_script(&mut s, "alloc 32; alloc 32; free 0").unwrap();
    assert_eq!(s.manager().stats().cached_arenas, 0);
    assert_eq!(
        log[0],
        "✓ free #0 at offset 0; not cached: it is larger than the quick lists' whole budget (25 B, a 16th of the region); no free neighbour to merge with"
    );
    // The rule says the budget too.
    assert!(explain::quick_lists().contains("a 16th of the region"));
    // On 1 KiB the budget is 64 B: one 32 B arena is cached, the second
    // also fits (64 B), a third does not.
    let mut s = fast(1024);
    run_script(
        &mut s,
        "alloc 32; alloc 8; alloc 32; alloc 8; alloc 32; alloc 8",
    )
    .unwrap();
    run_script(&mut s, "free 0; free 2").unwrap();
    assert_eq!(s.manager().stats().cached_bytes, 64);
    let log = run_script(&mut s, "free 4").unwrap();
    assert!(
        log[0].contains(
            "not cached: the quick lists' budget (64 B, a 16th of the region) is full — 64 B cached"
        ),
        "{log:?}"
    );
    // A size the lists never cache says nothing of the budget.
    let mut s = fast(1024);
    let log = run_script(&mut s, "alloc 33; alloc 8; free 0").unwrap();
    assert!(!log[0].contains("not cached"), "{log:?}");
}

#[test]
fn no_spare_descriptor_suggests_defrag_only_when_it_returns_descriptors() {
    // The model chapter's exercise: one free arena, nothing to merge.
    let mut s = session(400, 8);
    let log = run_script(
        &mut s,
        "alloc 100; alloc 50; alloc 10; alloc 10; alloc 10; alloc 10; alloc 10; alloc 10",
    )
    .unwrap();
    assert!(log[0].contains("needs a spare descriptor"), "{log:?}");
    assert!(
        log[0].contains("`defrag` cannot help: there is only one free arena"),
        "{log:?}"
    );
    assert!(log[0].contains("a larger arena table"), "{log:?}");
    assert!(!log[0].contains("`relocate` would"), "{log:?}");
    // Two free arenas apart: relocation joins them, defrag cannot.
    let mut s = session(400, 6);
    let log = run_script(
        &mut s,
        "alloc 50; alloc 50; alloc 50; alloc 50; alloc 50; free 1; free 3; alloc 10",
    )
    .unwrap();
    assert!(
        log[0].contains("`defrag` cannot help: none of the 3 free arenas are neighbours"),
        "{log:?}"
    );
    assert!(
        log[0]
            .contains("`relocate` would join the 3 free arenas into one and return 2 descriptors"),
        "{log:?}"
    );
    // Neighbours: defrag returns descriptors and says how many.
    let mut s = session(400, 6);
    let log = run_script(
        &mut s,
        "alloc 50; alloc 50; alloc 50; alloc 50; alloc 50; free 1; free 2; alloc 10",
    )
    .unwrap();
    assert!(
        log[0].contains("`defrag` merges free neighbours and returns their descriptors (1 descriptor would come back)"),
        "{log:?}"
    );
    run_script(&mut s, "undo; defrag; alloc 10").unwrap();
    assert!(s.log()[0].starts_with("✓ alloc(10)"), "{:?}", s.log());
}

#[test]
fn an_alignment_failure_names_alignment_not_defrag() {
    let mut s = session(300, 8);
    run_script(&mut s, "alloc 130; alloc 20; alloc 150; free 1; free 2").unwrap();
    let log = run_script(&mut s, "alloc 128 128").unwrap();
    assert!(log[0].contains("alignment 128 is the cause"), "{log:?}");
    assert!(!log[0].contains("would merge them"), "{log:?}");
    assert!(
        log[0].contains("`defrag` cannot help: the longest run of neighbouring free arenas, [130+170], reaches its first 128-aligned offset at 256 and leaves 44 B there, short of the 128 B it needs"),
        "{log:?}"
    );
    assert!(
        log[0].contains(
            "nor would `relocate`: the free bytes already lie in that one arena at the end"
        ),
        "{log:?}"
    );
    // After defrag: one piece, large enough, and alignment the cause.
    let log = run_script(&mut s, "defrag; alloc 128 128").unwrap();
    assert!(
        log[0]
            .contains("the largest free arena (170 B) is large enough: alignment 128 is the cause"),
        "{log:?}"
    );
    assert!(!log[0].contains("1 pieces"), "{log:?}");
    assert!(
        log[0].contains(
            "`defrag` cannot help: there is nothing to merge: the largest free arena, [130+170]"
        ),
        "{log:?}"
    );
    // Where relocation would move the free bytes, its one free arena at
    // the end is checked with the same aligned fit: on 1000 B it starts at
    // 700 and has no 256-aligned offset with 256 B after it …
    let mut s = session(1000, 8);
    let log = run_script(
        &mut s,
        "alloc 300; alloc 300; alloc 400; free 1; alloc 200 256",
    )
    .unwrap();
    assert!(log[0].contains("alignment 256 is the cause"), "{log:?}");
    assert!(
        log[0].contains("not even `relocate` would: its one free arena at the end, [700+300], reaches its first 256-aligned offset at 768 and leaves 232 B there"),
        "{log:?}"
    );
    // … while on 1024 B it starts at 724 and holds it at 768.
    let mut s = session(1024, 8);
    let log = run_script(
        &mut s,
        "alloc 300; alloc 300; alloc 424; free 1; alloc 200 256",
    )
    .unwrap();
    assert!(
        log[0].contains("`relocate` moves the live blocks and makes one free arena of 300 B"),
        "{log:?}"
    );
    let log = run_script(&mut s, "relocate; alloc 200 256").unwrap();
    assert!(
        log[0].starts_with("✓ alloc(200, align 256) = #4 at offset 768"),
        "{log:?}"
    );
    // Where the merged run does hold the aligned request, defrag is right.
    let mut s = session(400, 8);
    let log = run_script(
        &mut s,
        "alloc 100; alloc 100; alloc 100; alloc 100; free 1; free 2; alloc 100 64",
    )
    .unwrap();
    assert!(log[0].contains("[100+200]"), "{log:?}");
    assert!(log[0].contains("`defrag` would merge them"), "{log:?}");
    assert!(log[0].contains("in 2 pieces"), "{log:?}");
    run_script(&mut s, "defrag; alloc 100 64").unwrap();
    assert!(
        s.log()[0].starts_with("✓ alloc(100, align 64) = #5 at offset 128"),
        "{:?}",
        s.log()
    );
}

#[test]
fn a_relocation_refused_for_alignment_padding_points_to_the_table_not_to_defrag() {
    // The 64-aligned block would slide to offset 64 after the 10-byte one
    // and a free arena of padding: one descriptor more than 3.
    let mut s = session(192, 3);
    run_script(&mut s, "alloc 118; alloc 10; alloc 64 64; free 0").unwrap();
    let log = run_script(&mut s, "relocate").unwrap();
    assert!(log[0].contains("alignment padding"), "{log:?}");
    assert!(log[0].contains("`defrag` cannot help"), "{log:?}");
    // And indeed it cannot: merging changes nothing, the refusal stays.
    let log = run_script(&mut s, "defrag").unwrap();
    assert!(log[0].contains("free arenas 1 → 1"), "{log:?}");
    let log = run_script(&mut s, "relocate").unwrap();
    assert!(log[0].contains("no spare descriptor"), "{log:?}");
    s.manager().check_invariants().unwrap();
}
