// The CUDA coder as a torch extension: the kernels of rans_kernels.cuh, launched on the
// current CUDA stream by the functions of rans_host.hpp (the Python module's).
#include <torch/extension.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <utility>

#include "rans_kernels.cuh"

namespace {

constexpr const char* kDeviceName = "CUDA";

bool on_device(const torch::Tensor& t) { return t.is_cuda(); }

// The largest dynamic shared memory a block of this device may opt in to.
int64_t max_shared_per_block() {
  int dev = 0, v = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return v;
}

int64_t sm_count() {
  int dev = 0, v = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
  return v;
}

// kernel<<<blocks, threads, shared>>>(args...) on the current stream, opting in to more
// than 48 KB of dynamic shared memory where asked.
template <class... P, class... A>
void launch(void (*kernel)(P...), int64_t blocks, int threads, int64_t shared, A&&... args) {
  if (shared > 48 * 1024)
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)));
  kernel<<<unsigned(blocks), threads, size_t(shared), c10::cuda::getCurrentCUDAStream()>>>(std::forward<A>(args)...);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

#include "rans_host.hpp"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) { define_rans_functions(mod); }
