// pybind11 face of nvc's numeric kernels (nvcodec._kernels): shapes and dtypes
// are checked while the GIL is held, the arithmetic runs without it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "gemm/blocked_gemm.h"

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

namespace {

void require_shape(const FloatArray& a, const char* name, py::ssize_t ndim) {
    if (a.ndim() != ndim)
        throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) + " dimension(s), got " +
                              std::to_string(a.ndim()));
}

using GemmKernel = void (*)(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t);

FloatArray run_gemm(GemmKernel kernel, const FloatArray& a, const FloatArray& b, const std::optional<FloatArray>& bias) {
    require_shape(a, "a", 2);
    require_shape(b, "b", 2);
    const py::ssize_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
    if (b.shape(0) != k)
        throw py::value_error("a is " + std::to_string(m) + "x" + std::to_string(k) + " but b has " +
                              std::to_string(b.shape(0)) + " rows");
    const float* bias_data = nullptr;
    if (bias) {
        require_shape(*bias, "bias", 1);
        if (bias->shape(0) != m) throw py::value_error("bias must have one value per row of a");
        bias_data = bias->data();
    }
    FloatArray c({m, n});
    float* out = c.mutable_data();
    {
        py::gil_scoped_release release;
        kernel(a.data(), b.data(), bias_data, out, m, n, k);
    }
    return c;
}

}  // namespace

PYBIND11_MODULE(_kernels, mod) {
    mod.doc() = "nvc's numeric kernels with a fixed summation order";
    struct Named {
        const char* name;
        GemmKernel kernel;
        const char* doc;
    };
    // One binding per summation order; native/gemm/blocked_gemm.h documents each.
    const Named kernels[] = {
        {"blocked_gemm", nvc::gemm::blocked_gemm,
         "bias[:, None] + a @ b in float32, reduction blocks of at most 192 (see native/gemm/blocked_gemm.h)"},
        {"narrow_gemm", nvc::gemm::narrow_gemm,
         "bias[:, None] + a @ b in float32, unfused products added onto the bias in order (some columns split-8)"},
        {"single_column_gemm", nvc::gemm::single_column_gemm,
         "bias[:, None] + a @ b in float32, unfused products in 4 (or, in the last rows, 8) lanes, bias last"},
    };
    for (const Named& k : kernels) {
        const GemmKernel kernel = k.kernel;
        mod.def(
            k.name,
            [kernel](const FloatArray& a, const FloatArray& b, const std::optional<FloatArray>& bias) {
                return run_gemm(kernel, a, b, bias);
            },
            py::arg("a"), py::arg("b"), py::arg("bias") = py::none(), k.doc);
    }
    mod.def(
        "reduction_blocks",
        [](int64_t k) {
            if (k < 0) throw py::value_error("reduction length must not be negative");
            return nvc::gemm::reduction_blocks(k);
        },
        py::arg("k"));
}
