// The CUDA features rans_kernels.cuh uses, on a CPU: its kernels compile with g++ and run
// unchanged, one std::thread per CUDA thread, a block's threads at once (its blocks one
// after another), every warp collective a meeting of the warp's 32 threads.
//
// What it checks that a plain reference cannot: the kernels' own code (the word ring's
// positions and mirror, the read-ahead, the encoder's row loop, escapes, sinks), against
// the CPU coder's bytes, on a machine without a GPU. Shared memory starts filled with 0xA5,
// and cp.async copies land either at issue ("eager") or only when a wait forces them
// ("deferred", the latest moment the hardware may choose): a read of ring bytes before
// their copy is waited for shows up in deferred mode, a slot refilled before its last read
// in eager mode. What it does not check: timing, memory ordering beyond the intrinsics'
// synchronisation, and what only nvcc decides (registers, the PTX itself).
#pragma once
#define EZ_WARP_EMULATION 1

#include <algorithm>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct EmuDim {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local EmuDim threadIdx, blockIdx, blockDim;

struct uint2 {
  uint32_t x, y;
};
struct uint4 {
  uint32_t x, y, z, w;
};
inline uint2 make_uint2(uint32_t x, uint32_t y) { return {x, y}; }

using std::max;
using std::min;

namespace emu {

struct Warp {
  std::barrier<> meet{32};
  uint64_t slot[32] = {};
};

struct Block {
  std::barrier<> meet;
  std::vector<uint4> shared;  // 16-aligned
  Block(int threads, int64_t bytes) : meet(threads), shared(size_t((bytes + 15) / 16) + 1) {
    std::memset(shared.data(), 0xA5, shared.size() * sizeof(uint4));
  }
};

struct Copy {
  uint8_t* dst;
  const uint8_t* src;
  uint32_t n;
  void land() const {
    std::memcpy(dst, src, n);
    std::memset(dst + n, 0, 16 - n);
  }
};

inline bool eager_copies = false;  // cp.async landing at issue (true) or when waited for
inline thread_local Warp* warp = nullptr;
inline thread_local Block* block = nullptr;
inline thread_local int lane = 0;
inline thread_local std::vector<Copy> open_group;
inline thread_local std::deque<std::vector<Copy>> groups;

// Every lane of the warp puts v in; all read the 32 values (f), then meet again so that
// no lane overwrites its slot before every lane has read.
template <class F>
inline auto collective(uint64_t v, F f) {
  warp->slot[lane] = v;
  warp->meet.arrive_and_wait();
  const auto r = f(warp->slot);
  warp->meet.arrive_and_wait();
  return r;
}

// kernel<<<blocks, threads, shared>>>(args...), emulated.
template <class... P, class... A>
void launch(void (*kernel)(P...), int64_t blocks, int threads, int64_t shared, A&&... args) {
  for (int64_t b = 0; b < blocks; ++b) {
    Block blk(threads, shared);
    std::vector<std::unique_ptr<Warp>> warps;
    for (int w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<Warp>());
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t)
      team.emplace_back([&, t] {
        threadIdx = {unsigned(t), 0, 0};
        blockIdx = {unsigned(b), 0, 0};
        blockDim = {unsigned(threads), 1, 1};
        warp = warps[size_t(t / 32)].get();
        block = &blk;
        lane = t % 32;
        open_group.clear();
        groups.clear();
        kernel(args...);
      });
    for (auto& th : team) th.join();
  }
}

}  // namespace emu

inline unsigned __ballot_sync(unsigned, bool p) {
  return emu::collective(p, [](const uint64_t* s) {
    unsigned m = 0;
    for (int i = 0; i < 32; ++i) m |= unsigned(s[i] != 0) << i;
    return m;
  });
}
inline bool __any_sync(unsigned m, bool p) { return __ballot_sync(m, p) != 0; }
inline int __reduce_min_sync(unsigned, int v) {
  return emu::collective(uint64_t(uint32_t(v)), [](const uint64_t* s) {
    int r = int(uint32_t(s[0]));
    for (int i = 1; i < 32; ++i) r = std::min(r, int(uint32_t(s[i])));
    return r;
  });
}
template <class T>
inline T __shfl_sync(unsigned, T v, int src) {
  static_assert(sizeof(T) <= 8);
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  const uint64_t got = emu::collective(bits, [src](const uint64_t* s) { return s[src & 31]; });
  T r;
  std::memcpy(&r, &got, sizeof(T));
  return r;
}
template <class T>
inline T __shfl_up_sync(unsigned m, T v, unsigned d) {
  const int me = emu::lane;
  const T up = __shfl_sync(m, v, me >= int(d) ? me - int(d) : me);
  return up;
}
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warp->meet.arrive_and_wait(); }
inline void __syncthreads() { emu::block->meet.arrive_and_wait(); }

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(unsigned v) { return __builtin_ffs(int(v)); }
template <class T>
inline T __ldg(const T* p) { return *p; }
// Byte n of the result is byte (s >> 4n) & 7 of {y, x} (the selectors the kernels use).
inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s) {
  const uint64_t both = uint64_t(x) | uint64_t(y) << 32;
  uint32_t r = 0;
  for (int n = 0; n < 4; ++n) r |= uint32_t((both >> (8 * ((s >> (4 * n)) & 7))) & 0xFF) << (8 * n);
  return r;
}

inline uint32_t* dynamic_shared() { return reinterpret_cast<uint32_t*>(emu::block->shared.data()); }
inline void cp_async16(void* dst, const void* src, uint32_t n) {
  const emu::Copy c{static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), n};
  if (emu::eager_copies)
    c.land();
  else
    emu::open_group.push_back(c);
}
inline void cp_async_commit() {
  emu::groups.push_back(std::move(emu::open_group));
  emu::open_group.clear();
}
template <int N>
inline void cp_async_wait() {
  while (emu::groups.size() > size_t(N)) {
    for (const auto& c : emu::groups.front()) c.land();
    emu::groups.pop_front();
  }
}
