// The CUDA coder's extension built for a CPU: rans_kernels.cuh run by warp_emu.hpp, bound by
// the same host code as rans_cuda.cu (rans_host.hpp), so it takes CPU tensors where the real
// one takes CUDA tensors and returns what the GPU would. Built by tests/cuda_emu/__init__.py.
#include <torch/extension.h>

#include <utility>

#include "warp_emu.hpp"
#include "rans_kernels.cuh"

namespace {

constexpr const char* kDeviceName = "CPU (warp emulation)";

bool on_device(const torch::Tensor& t) { return t.device().is_cpu(); }

int64_t max_shared_per_block() { return 227 * 1024; }  // an H100's or H200's opt-in limit
int64_t sm_count() { return 4; }  // few: small tests still launch blocks of every shape

template <class... P, class... A>
void launch(void (*kernel)(P...), int64_t blocks, int threads, int64_t shared, A&&... args) {
  emu::launch(kernel, blocks, threads, shared, std::forward<A>(args)...);
}

}  // namespace

#include "rans_host.hpp"

void set_eager_copies(bool eager) { emu::eager_copies = eager; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  define_rans_functions(mod);
  mod.def("set_eager_copies", &set_eager_copies, "cp.async copies land at issue (True) or when waited for");
}
