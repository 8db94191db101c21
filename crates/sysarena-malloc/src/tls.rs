//! Thread-local variables in the initial-exec TLS model, reached without a
//! call.
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic
//! model: every access calls `__tls_get_addr` (callgrind, one-thread
//! larson up to 512 B: 4.4 M of 70.5 M instructions, plus the calls). A
//! library loaded with `LD_PRELOAD` is loaded at start-up, so its TLS
//! block sits at a fixed offset from the thread pointer in every thread
//! (the static TLS block), and the initial-exec model — the offset read
//! from the GOT, added to `%fs:0` — is legal for it (Drepper, "ELF
//! Handling For Thread-Local Storage", sections 4.3.3 and 4.4.6; it is
//! what C's `__attribute__((tls_model("initial-exec")))` gives). Stable
//! Rust cannot ask for a model, so [`static_tls!`] defines the variable in
//! assembly, in `.tbss` (zero-initialised), hidden (not exported), and
//! reaches it with two instructions. A shared object with such an access
//! is marked `DF_STATIC_TLS` by the linker, so a `dlopen` that cannot
//! give it static TLS fails cleanly instead of computing a wrong address;
//! in an executable (the unit tests) the linker turns the access into the
//! local-exec model. Elsewhere than x86-64 Linux the macro falls back to
//! `thread_local!`.

/// Defines `fn $get() -> *mut $ty`, the calling thread's instance of a
/// thread-local `$ty` whose initial value is all zero bytes (`$zero`, a
/// constant expression of that value, used by the fallback), as the
/// hidden assembly symbol `$sym`.
macro_rules! static_tls {
    ($(#[$m:meta])* fn $get:ident() -> *mut $ty:ty = $zero:expr, $sym:literal) => {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        core::arch::global_asm!(
            ".pushsection .tbss,\"awT\",@nobits",
            ".balign {align}",
            concat!(".globl ", $sym),
            concat!(".hidden ", $sym),
            concat!(".type ", $sym, ",@object"),
            concat!(".size ", $sym, ",{size}"),
            concat!($sym, ":"),
            ".zero {size}",
            ".popsection",
            align = const core::mem::align_of::<$ty>(),
            size = const core::mem::size_of::<$ty>(),
        );

        $(#[$m])*
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        #[inline(always)]
        fn $get() -> *mut $ty {
            let p: usize;
            // SAFETY: the initial-exec sequence for the TLS variable
            // defined above (the linker resolves the `GOTTPOFF`
            // relocation; the dynamic loader fills the GOT entry with the
            // variable's offset in the static TLS block); it only reads
            // `%fs:0` and the GOT, and its result depends only on the
            // calling thread, hence `pure`.
            unsafe {
                core::arch::asm!(
                    "movq %fs:0, {p}",
                    concat!("addq ", $sym, "@gottpoff(%rip), {p}"),
                    p = out(reg) p,
                    options(att_syntax, pure, readonly, nostack)
                );
            }
            p as *mut $ty
        }

        $(#[$m])*
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        #[inline]
        fn $get() -> *mut $ty {
            std::thread_local! {
                static V: core::cell::UnsafeCell<$ty> = const { core::cell::UnsafeCell::new($zero) };
            }
            V.with(|v| v.get())
        }
    };
}

pub(crate) use static_tls;

#[cfg(test)]
mod tests {
    crate::tls::static_tls! {
        /// A test variable.
        fn probe() -> *mut [u64; 3] = [0; 3], "sysarena_malloc_tls_probe"
    }

    #[test]
    fn each_thread_has_its_own_zeroed_instance() {
        let mine = probe();
        // SAFETY: this thread's instance; nothing else refers to it.
        unsafe {
            assert_eq!(*mine, [0; 3]);
            (*mine)[1] = 7;
        }
        assert_eq!(probe(), mine);
        let other = std::thread::spawn(|| {
            let p = probe();
            // SAFETY: that thread's instance.
            let v = unsafe { *p };
            (p as usize, v)
        })
        .join()
        .unwrap();
        assert_ne!(other.0, mine as usize);
        assert_eq!(other.1, [0; 3]);
        // SAFETY: this thread's instance.
        assert_eq!(unsafe { (*mine)[1] }, 7);
    }
}
