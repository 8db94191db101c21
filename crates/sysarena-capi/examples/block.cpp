// sysarena's block API from C++: a small RAII owner of a block's table
// memory, a std::vector standing in for device memory, allocations made and
// freed, then defragmentation passes carried out with std::memmove until
// they converge; every allocation's bytes are checked after each pass.
//
// Build: c++ -std=c++17 -Wall -Wextra -Werror block.cpp -Iinclude
//        libsysarena_capi.a -lpthread -ldl -lm
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "sysarena.h"

namespace {

void check(int32_t rc, const char *what) {
    if (rc != SYSARENA_OK)
        throw std::runtime_error(std::string(what) + ": " + sysarena_strerror(rc));
}

// Owns the memory of one block; the block itself needs no clean-up.
class Block {
  public:
    Block(size_t capacity, size_t descriptors, size_t handles, size_t moves)
        : mem_(sysarena_block_size_for(descriptors, handles, moves)) {
        check(sysarena_block_init(mem_.data(), mem_.size(), capacity, descriptors,
                                  handles, moves, &block_),
              "init");
    }
    // The block lives inside `mem_` and `block_` points into it: a copy
    // would point into the original's memory, so there are none.
    Block(const Block &) = delete;
    Block &operator=(const Block &) = delete;
    struct Allocation {
        uint64_t handle;
        size_t offset;
    };
    Allocation alloc(size_t size, size_t align) {
        Allocation a{};
        check(sysarena_block_alloc(block_, size, align, &a.handle, &a.offset), "alloc");
        return a;
    }
    void free(uint64_t handle) { check(sysarena_block_free(block_, handle), "free"); }
    size_t offset(uint64_t handle) const {
        size_t off = 0;
        check(sysarena_block_offset(block_, handle, &off), "offset");
        return off;
    }
    SysarenaStats stats() const {
        SysarenaStats s{};
        check(sysarena_block_stats(block_, &s), "stats");
        return s;
    }
    // One pass: plans moves, lets `copy` carry each out, commits them.
    // Returns whether the layout had converged.
    template <class Copy> bool pass(Copy copy) {
        std::vector<SysarenaMove> moves(16);
        SysarenaPassPlan plan{};
        check(sysarena_block_begin_pass(block_, 0, 0, moves.data(), moves.size(), &plan),
              "begin_pass");
        for (size_t i = 0; i < plan.moves; i++) {
            copy(moves[i]);
            moves[i].status = SYSARENA_MOVE_DONE;
        }
        SysarenaPassReport report{};
        check(sysarena_block_end_pass(block_, moves.data(), plan.moves, &report),
              "end_pass");
        if (report.done != plan.moves || report.rejected != 0)
            throw std::runtime_error("a planned move was not committed");
        check(sysarena_block_check(block_), "check");
        return plan.converged != 0;
    }

  private:
    std::vector<unsigned char> mem_;
    SysarenaBlock *block_ = nullptr;
};

} // namespace

int main() {
    try {
        const size_t capacity = 32 * 1024;
        Block block(capacity, 128, 64, 16);
        std::vector<unsigned char> device(capacity);
        struct Live {
            uint64_t handle;
            size_t size;
            unsigned char fill;
        };
        std::vector<Live> live;
        for (int i = 0; i < 40; i++) {
            size_t size = 100 + static_cast<size_t>(i) * 37 % 500;
            auto a = block.alloc(size, 16);
            auto fill = static_cast<unsigned char>(i + 1);
            std::memset(&device[a.offset], fill, size);
            live.push_back({a.handle, size, fill});
        }
        // Fragment: free every third allocation.
        std::vector<Live> kept;
        for (size_t i = 0; i < live.size(); i++) {
            if (i % 3 == 0)
                block.free(live[i].handle);
            else
                kept.push_back(live[i]);
        }
        auto before = block.stats();
        int passes = 0;
        while (!block.pass([&](const SysarenaMove &m) {
            std::memmove(&device[m.to], &device[m.from], m.len);
        })) {
            for (const auto &l : kept) {
                size_t off = block.offset(l.handle);
                for (size_t k = 0; k < l.size; k++)
                    if (device[off + k] != l.fill)
                        throw std::runtime_error("an allocation lost its bytes");
            }
            if (++passes > 100)
                throw std::runtime_error("the passes never converged");
        }
        auto after = block.stats();
        std::printf("block.cpp: %d passes; largest free %zu -> %zu of %zu free\n", passes,
                    before.largest_free, after.largest_free, after.free_bytes);
        if (passes == 0 || after.largest_free <= before.largest_free)
            throw std::runtime_error("defragmentation did not gather the free space");
        std::printf("block.cpp: all checks passed\n");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "block.cpp: %s\n", e.what());
        return 1;
    }
}
