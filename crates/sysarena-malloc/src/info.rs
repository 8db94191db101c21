//! glibc's inspection and trimming calls — `mallinfo2`, `mallinfo`,
//! `malloc_stats`, `malloc_info` and `malloc_trim` — answered with this
//! library's figures; and the snapshot of one shard that they and the exit
//! report (`report.rs`) read.
//!
//! glibc's words, in sysarena's:
//!
//! | glibc | here |
//! | --- | --- |
//! | an arena (`Arena 0:`, `<heap nr="0">`) | a shard |
//! | its system bytes (`arena`) | the shard's high-water mark: bytes of its heap ever handed out (pages given back with `MADV_DONTNEED` still count, as glibc's do; address space withdrawn for a direct mapping under `ulimit -v` does not) |
//! | bytes in use (`uordblks`) | arenas in use, less slab pages, pooled pages and withdrawn address space, plus slab slots in use at their class sizes; blocks in thread caches count as in use, as glibc counts its tcache's |
//! | free bytes (`fordblks`) | the rest of the high-water mark: free arenas below it, free slots and page tails of slab pages, pooled empty pages |
//! | free chunks (`ordblks`) | free arenas below the high-water mark, less those in the quick lists |
//! | fastbin chunks (`smblks`, `fsmblks`) | arenas waiting in the heap's quick lists (free, and counted in `fordblks`, as glibc's fastbins are) |
//! | mmapped chunks (`hblks`, `hblkhd`) | direct mappings (64 MiB and up) |
//! | releasable top (`keepcost`) | the free arena that reaches a shard's high-water mark |
//!
//! `mallopt` is left to glibc: it still answers 1 and tunes glibc's own,
//! unused heap. The `SYSARENA_*` settings tune this one, read once at the
//! first call.

use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;

use crate::shard::{self, Locked};
use crate::slab::{self, PAGE};
use crate::sys::{self, Buf};
use crate::{big, globals, tcache};

/// One shard's figures, read under its lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    /// The heap's accounting (slab pages and pooled pages are arenas in
    /// use there).
    pub(crate) stats: sysarena::Stats,
    /// The highest high-water mark (bytes from the shard's start ever
    /// handed out) over the shard's lives: a retired shard starts again at
    /// 0 when revived (`shard/retire.rs`).
    pub(crate) touched: usize,
    /// Free arenas below the mark, their bytes (cut at the mark), and the
    /// largest of them.
    pub(crate) free_touched_arenas: usize,
    pub(crate) free_touched: usize,
    pub(crate) largest_touched: usize,
    /// Bytes below the mark of the free arena that reaches it (0: none).
    pub(crate) top_free: usize,
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) reallocs: u64,
    pub(crate) released: u64,
    pub(crate) withdrawn: u64,
    /// Bytes given back by retiring the shard, ever (`shard/retire.rs`).
    pub(crate) retired: u64,
    pub(crate) slab: slab::Counts,
    /// Empty slab pages pooled (arenas in use, in no class).
    pub(crate) pooled: usize,
}

impl Snapshot {
    /// Bytes of the blocks the program holds (see the module docs): arenas
    /// in use, less the address space withdrawn for direct mappings (taken
    /// out of use for good), the slab pages and the pooled pages; plus the
    /// slab slots in use at their class sizes.
    pub(crate) fn in_use(&self) -> usize {
        self.stats
            .in_use_bytes
            .saturating_sub(self.withdrawn as usize + (self.slab.pages + self.pooled) * PAGE)
            + self.slab.used_bytes
    }

    /// Bytes free to the program below the high-water mark: free arenas,
    /// free slots and page tails of slab pages, pooled pages.
    pub(crate) fn free(&self) -> usize {
        self.free_touched
            + ((self.slab.pages + self.pooled) * PAGE).saturating_sub(self.slab.used_bytes)
    }

    /// The heap's memory: [`in_use`](Self::in_use) + [`free`](Self::free)
    /// (the high-water mark, less any address space withdrawn below it).
    pub(crate) fn system(&self) -> usize {
        self.in_use() + self.free()
    }
}

/// Shard `i`'s figures, or `None` if no thread ever used it (it was never
/// built).
///
/// # Time complexity
/// O(arenas below the high-water mark), under the shard's lock.
pub(crate) fn snapshot(i: usize) -> Option<Snapshot> {
    let l = Locked::lock_if_built(i)?;
    // Free bytes and the largest free arena below the high-water mark (the
    // untouched rest of the shard is one huge free arena that would hide
    // every hole).
    let (mut n, mut free, mut largest, mut top) = (0, 0, 0, 0);
    for a in l.heap.manager().arenas() {
        if a.offset >= l.hwm {
            break;
        }
        if !a.in_use {
            let end = (a.offset + a.size).min(l.hwm);
            n += 1;
            free += end - a.offset;
            largest = largest.max(end - a.offset);
            if end == l.hwm {
                top = end - a.offset;
            }
        }
    }
    Some(Snapshot {
        stats: l.heap.stats(),
        touched: l.hwm.max(l.hwm_before),
        free_touched_arenas: n,
        free_touched: free,
        largest_touched: largest,
        top_free: top,
        allocs: l.allocs,
        frees: l.frees,
        reallocs: l.reallocs,
        released: l.released,
        withdrawn: l.withdrawn,
        retired: l.retired,
        slab: l.slab.counts,
        pooled: l.slab.pooled_pages(),
    })
}

/// glibc's `struct mallinfo2` over every shard and the direct mappings.
///
/// # Time complexity
/// O(arenas below the high-water marks), one shard's lock at a time.
pub(crate) fn mallinfo2() -> libc::mallinfo2 {
    let mut m = libc::mallinfo2 {
        arena: 0,
        ordblks: 0,
        smblks: 0,
        hblks: big::live(),
        hblkhd: big::MAPPED.load(Relaxed),
        usmblks: 0,
        fsmblks: 0,
        uordblks: 0,
        fordblks: 0,
        keepcost: 0,
    };
    // No shard before initialisation (`count` is 0).
    for i in 0..shard::count() {
        let Some(s) = snapshot(i) else { continue };
        m.arena += s.system();
        // glibc's free chunks leave its fastbins out (`smblks`).
        m.ordblks += s.free_touched_arenas.saturating_sub(s.stats.cached_arenas);
        m.smblks += s.stats.cached_arenas;
        m.fsmblks += s.stats.cached_bytes;
        m.uordblks += s.in_use();
        m.fordblks += s.free();
        m.keepcost += s.top_free;
    }
    m
}

/// glibc's `struct mallinfo`: [`mallinfo2`] with each field cut to an
/// `int`, as glibc's own does (the figures wrap past 2 GiB; that is why
/// `mallinfo2` exists).
pub(crate) fn mallinfo() -> libc::mallinfo {
    let m = mallinfo2();
    libc::mallinfo {
        arena: m.arena as i32,
        ordblks: m.ordblks as i32,
        smblks: m.smblks as i32,
        hblks: m.hblks as i32,
        hblkhd: m.hblkhd as i32,
        usmblks: m.usmblks as i32,
        fsmblks: m.fsmblks as i32,
        uordblks: m.uordblks as i32,
        fordblks: m.fordblks as i32,
        keepcost: m.keepcost as i32,
    }
}

/// glibc's `malloc_stats`: to stderr, per shard (glibc's "arena") its
/// system bytes and bytes in use, then the totals with the direct mappings,
/// and the most direct mappings (count and bytes) live at once — glibc's
/// layout, so that scripts reading it keep working.
///
/// # Time complexity
/// O(arenas below the high-water marks), one shard's lock at a time.
// (Called only from `exports`, which the unit tests leave out: they test
// `write_stats`.)
#[cfg_attr(test, allow(dead_code))]
pub(crate) fn malloc_stats() {
    write_stats(sys::eprint);
}

/// [`malloc_stats`]' text, a piece at a time, to `put`.
fn write_stats(mut put: impl FnMut(&[u8])) {
    let (mut system, mut in_use) = (0, 0);
    // No shard before initialisation (`count` is 0).
    for i in 0..shard::count() {
        let Some(s) = snapshot(i) else { continue };
        system += s.system();
        in_use += s.in_use();
        let mut b = Buf::<160>::new();
        let _ = write!(
            b,
            "Arena {i}:\nsystem bytes     = {:>10}\nin use bytes     = {:>10}\n",
            s.system(),
            s.in_use()
        );
        put(b.as_bytes());
    }
    let mapped = big::MAPPED.load(Relaxed);
    let mut b = Buf::<256>::new();
    let _ = write!(
        b,
        "Total (incl. mmap):\nsystem bytes     = {:>10}\nin use bytes     = {:>10}\nmax mmap regions = {:>10}\nmax mmap bytes   = {:>10}\n",
        system + mapped,
        in_use + mapped,
        big::PEAK_LIVE.load(Relaxed),
        big::PEAK_MAPPED.load(Relaxed),
    );
    put(b.as_bytes());
}

/// glibc's `malloc_info`: an XML description to `stream`, in glibc's
/// elements (`<heap nr>` per shard, `<total type="fast|rest|mmap">`,
/// `<system type="current|max">`, `<aspace type="total|mprotect">`; no
/// `<size>` histogram, which glibc builds from its bins). `options` must be
/// 0; anything else returns `EINVAL` (the value, errno untouched: what
/// glibc's does, whatever its manual says), else 0.
///
/// Written a shard at a time, with no lock held (the stream may allocate
/// its buffer).
///
/// # Safety
/// `stream` is a valid `FILE` open for writing.
///
/// # Time complexity
/// O(arenas below the high-water marks), one shard's lock at a time.
pub(crate) unsafe fn malloc_info(options: i32, stream: *mut libc::FILE) -> i32 {
    if options != 0 {
        return libc::EINVAL;
    }
    let put = |bytes: &[u8]| {
        // SAFETY: the caller's stream; `bytes` is alive for the call.
        unsafe { libc::fwrite(bytes.as_ptr().cast(), 1, bytes.len(), stream) };
    };
    put(b"<malloc version=\"1\">\n");
    let mut all = HeapInfo::default();
    // No shard before initialisation (`count` is 0).
    for i in 0..shard::count() {
        let Some(s) = snapshot(i) else { continue };
        let h = HeapInfo {
            fast: (s.stats.cached_arenas, s.stats.cached_bytes),
            // Free pieces other than the quick lists' arenas: the other
            // free arenas, the free slots and the pooled pages.
            // (Saturating: a cached arena counts whole in `cached_bytes`,
            // but only below the high-water mark in `free`.)
            rest: (
                s.free_touched_arenas.saturating_sub(s.stats.cached_arenas)
                    + (s.slab.slots - s.slab.used_slots)
                    + s.pooled,
                s.free().saturating_sub(s.stats.cached_bytes),
            ),
            system: s.system(),
            aspace: globals::get_if_ready().map_or(0, |g| shard::length(g, i)),
        };
        let mut b = Buf::<640>::new();
        let _ = write!(b, "<heap nr=\"{i}\">\n<sizes>\n</sizes>\n");
        h.write(&mut b, None);
        let _ = b.write_str("</heap>\n");
        put(b.as_bytes());
        all.add(&h);
    }
    let mut b = Buf::<640>::new();
    all.write(&mut b, Some((big::live(), big::MAPPED.load(Relaxed))));
    let _ = b.write_str("</malloc>\n");
    put(b.as_bytes());
    0
}

/// What `malloc_info` says of a heap (a shard, or all of them): the
/// quick lists' arenas (glibc's fastbins) and the other free pieces, each
/// as (count, bytes); the memory; the address space.
#[derive(Default)]
struct HeapInfo {
    fast: (usize, usize),
    rest: (usize, usize),
    system: usize,
    aspace: usize,
}

impl HeapInfo {
    fn add(&mut self, h: &HeapInfo) {
        self.fast = (self.fast.0 + h.fast.0, self.fast.1 + h.fast.1);
        self.rest = (self.rest.0 + h.rest.0, self.rest.1 + h.rest.1);
        self.system += h.system;
        self.aspace += h.aspace;
    }

    /// glibc's `total`, `system` and `aspace` elements, with the direct
    /// mappings' `total` (count, bytes) after the free pieces' if `mmap`.
    fn write<const N: usize>(&self, b: &mut Buf<N>, mmap: Option<(usize, usize)>) {
        let HeapInfo {
            fast,
            rest,
            system,
            aspace,
        } = self;
        let _ = write!(
            b,
            "<total type=\"fast\" count=\"{}\" size=\"{}\"/>\n<total type=\"rest\" count=\"{}\" size=\"{}\"/>\n",
            fast.0, fast.1, rest.0, rest.1,
        );
        if let Some((count, size)) = mmap {
            let _ = writeln!(
                b,
                "<total type=\"mmap\" count=\"{count}\" size=\"{size}\"/>"
            );
        }
        let _ = write!(
            b,
            "<system type=\"current\" size=\"{system}\"/>\n<system type=\"max\" size=\"{system}\"/>\n<aspace type=\"total\" size=\"{aspace}\"/>\n<aspace type=\"mprotect\" size=\"{aspace}\"/>\n",
        );
    }
}

/// glibc's `malloc_trim`: gives the kernel every whole page of free
/// memory the shards hold — the calling thread's cache first (other
/// threads' caches are theirs to give back), then in each shard the heap's
/// quick lists, the slab layer's spares, pool and free pages inside its
/// pages, and every free arena's whole pages (`Inner::trim`); under an
/// address-space limit, a shard other than shard 0 left empty gives all of
/// its memory back (`shard/retire.rs`). `pad` is
/// ignored: glibc keeps that many bytes at the top of its main heap, and a
/// shard has no top that grows. Returns 1 if any memory went back (pages
/// that were resident, or a shard's memory), else 0, as glibc.
///
/// # Time complexity
/// O(arenas + slab pages × slots per page / 64) per shard, one shard's lock
/// at a time; one `madvise` per free arena holding a whole page.
pub(crate) fn malloc_trim(_pad: usize) -> i32 {
    let Some(g) = globals::get_if_ready() else {
        return 0;
    };
    // `mincore` refuses ranges it cannot see; the program's errno stays.
    let saved = sys::errno();
    if g.tcache {
        tcache::flush_mine(g);
    }
    let mut released = 0;
    for i in 0..shard::count() {
        released += shard::trim_in(g, i);
    }
    sys::set_errno(saved);
    i32::from(released > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api;

    /// In process, beside other tests that allocate and free: the figures
    /// are each shard's, read under its lock, so the identities hold
    /// whatever the others do, and this test's own live blocks are always
    /// counted. A trim under way keeps every shard consistent and every
    /// live block's bytes.
    #[test]
    fn the_figures_add_up_and_a_trim_keeps_live_blocks() {
        let sizes = [24, 1000, 5000, 100_000];
        let blocks: Vec<(*mut u8, usize)> = (0..200)
            .map(|k| {
                let n = sizes[k % sizes.len()];
                let p = api::malloc(n).cast::<u8>();
                assert!(!p.is_null());
                // SAFETY: `n` bytes of ours.
                unsafe { p.write_bytes(k as u8, n) };
                (p, n)
            })
            .collect();
        let total: usize = blocks.iter().map(|b| b.1).sum();
        let m = mallinfo2();
        assert_eq!(m.arena, m.uordblks + m.fordblks);
        assert!(m.uordblks >= total, "{} < {total}", m.uordblks);
        let old = mallinfo();
        assert_eq!(old.hblks as usize, big::live().min(i32::MAX as usize));
        // Half the blocks freed, then a trim.
        for &(p, _) in blocks.iter().step_by(2) {
            // SAFETY: ours, freed once.
            unsafe { api::free(p.cast()) };
        }
        let r = malloc_trim(0);
        assert!(r == 0 || r == 1);
        for (k, &(p, n)) in blocks.iter().enumerate().skip(1).step_by(2) {
            // SAFETY: a live block of `n` bytes.
            let b = unsafe { core::slice::from_raw_parts(p, n) };
            assert!(b.iter().all(|&x| x == k as u8), "block {k} kept its bytes");
            // SAFETY: ours, freed once.
            unsafe { api::free(p.cast()) };
        }
        let g = globals::get_if_ready().expect("initialised by malloc");
        assert!(crate::check::check_all(g).is_ok());
        for i in 0..shard::count() {
            if let Some(s) = snapshot(i) {
                assert_eq!(s.system(), s.in_use() + s.free());
                assert!(s.top_free <= s.free_touched && s.largest_touched <= s.free_touched);
            }
        }
    }

    #[test]
    fn the_reports_have_glibc_shape() {
        let p = api::malloc(100);
        let mut text = Vec::new();
        write_stats(|b| text.extend_from_slice(b));
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("Arena 0:\nsystem bytes     = "), "{text}");
        assert!(
            text.contains("\nTotal (incl. mmap):\nsystem bytes     = "),
            "{text}"
        );
        assert!(
            text.ends_with('\n') && text.contains("max mmap bytes   = "),
            "{text}"
        );
        let (mut buf, mut len) = (core::ptr::null_mut(), 0);
        // SAFETY: `buf` and `len` outlive the stream (closed below).
        let f = unsafe { libc::open_memstream(&mut buf, &mut len) };
        assert!(!f.is_null());
        // SAFETY: an open stream.
        assert_eq!(unsafe { malloc_info(0, f) }, 0);
        // SAFETY: as above; a stream other than 0 is refused before writing.
        assert_eq!(unsafe { malloc_info(2, f) }, libc::EINVAL);
        // SAFETY: the stream opened above, closed once.
        unsafe { libc::fclose(f) };
        // SAFETY: `open_memstream` left `len` bytes at `buf`.
        let xml = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
        let xml = String::from_utf8(xml.to_vec()).unwrap();
        // SAFETY: the stream's buffer, from the C library's malloc.
        unsafe { libc::free(buf.cast()) };
        assert!(
            xml.starts_with("<malloc version=\"1\">\n<heap nr=\"0\">\n"),
            "{xml}"
        );
        assert!(xml.ends_with("\"/>\n</malloc>\n"), "{xml}");
        assert_eq!(
            xml.matches("<heap nr=").count(),
            xml.matches("</heap>").count()
        );
        // SAFETY: ours.
        unsafe { api::free(p) };
    }
}
