// pybind11 face of nvc's numeric kernels (nvcodec._kernels): shapes and dtypes
// are checked while the GIL is held, the arithmetic runs without it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include "gemm/blocked_gemm.h"
#include "motion/motion_search.h"
#include "motion/warp.h"

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Int32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

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

// Motion search takes no silent conversions: a float64 frame rounded to float32 here would be scored
// on other samples than the ones the caller predicts from, and a float vector field is a caller's bug.
template <typename T>
py::array_t<T, py::array::c_style | py::array::forcecast> exact_dtype(const py::array& a, const char* name,
                                                                      const char* dtype_name) {
    if (!a.dtype().equal(py::dtype::of<T>()))
        throw py::value_error(std::string(name) + " must be a " + dtype_name + " array, got " +
                              std::string(py::str(a.dtype())));
    // same dtype, so this only copies a non-contiguous view into C order
    return py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
}

std::string shape_text(const py::array& a) {
    std::string text = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) text += (i ? ", " : "") + std::to_string(a.shape(i));
    return text + (a.ndim() == 1 ? ",)" : ")");
}

Int32Array run_motion_search(const py::array& cur_in, const py::array& ref_in, double lam, int search_range,
                             const std::optional<py::array>& previous_in) {
    const FloatArray cur = exact_dtype<float>(cur_in, "cur", "float32");
    const FloatArray ref = exact_dtype<float>(ref_in, "ref", "float32");
    require_shape(cur, "cur", 2);
    require_shape(ref, "ref", 2);
    const py::ssize_t h = cur.shape(0), w = cur.shape(1);
    if (ref.shape(0) != h || ref.shape(1) != w)
        throw py::value_error("cur is " + shape_text(cur) + " but ref is " + shape_text(ref));
    const py::ssize_t block = nvc::motion::kBlock, largest = nvc::motion::kMaxDimension;
    if (h <= 0 || w <= 0 || h > largest || w > largest || h % block != 0 || w % block != 0)
        throw py::value_error("frame size must be a multiple of " + std::to_string(block) + " in 16.." +
                              std::to_string(largest) + " each way, got " + shape_text(cur));
    if (search_range < 0 || search_range > nvc::motion::kMaxSearchRange)
        throw py::value_error("search_range must be in 0.." + std::to_string(nvc::motion::kMaxSearchRange) +
                              ", got " + std::to_string(search_range));
    if (!std::isfinite(lam) || lam < 0) throw py::value_error("lam must be finite and not negative");
    const py::ssize_t bh = h / block, bw = w / block;
    std::optional<Int32Array> previous;
    if (previous_in) {
        previous = exact_dtype<int32_t>(*previous_in, "previous", "int32");
        if (previous->ndim() != 3 || previous->shape(0) != bh || previous->shape(1) != bw || previous->shape(2) != 2)
            throw py::value_error("previous must have shape (" + std::to_string(bh) + ", " + std::to_string(bw) +
                                  ", 2) for a " + shape_text(cur) + " frame, got " + shape_text(*previous));
    }
    Int32Array field({bh, bw, py::ssize_t{2}});
    int32_t* out = field.mutable_data();
    const int32_t* previous_data = previous ? previous->data() : nullptr;
    {
        py::gil_scoped_release release;
        nvc::motion::motion_search(cur.data(), ref.data(), h, w, lam, search_range, previous_data, out);
    }
    return field;
}

// An int32 [h, w, 2] array of (vy, vx) pairs, one per block.
Int32Array vector_field(const py::array& in, const char* name) {
    Int32Array field = exact_dtype<int32_t>(in, name, "int32");
    if (field.ndim() != 3 || field.shape(2) != 2)
        throw py::value_error(std::string(name) + " must have shape (h, w, 2), got " + shape_text(field));
    return field;
}

Int32Array run_motion_predictor(const py::array& field_in) {
    const Int32Array field = vector_field(field_in, "field");
    const py::ssize_t bh = field.shape(0), bw = field.shape(1);
    Int32Array out({bh, bw, py::ssize_t{2}});
    int32_t* out_data = out.mutable_data();
    {
        py::gil_scoped_release release;
        nvc::motion::predictor_field(field.data(), bh, bw, out_data);
    }
    return out;
}

// Vectors from coded residuals, each added to the predictor of the vectors decoded before it.  A
// decoder reads residuals off a damaged payload, so every vector is checked against the range here:
// the first one outside it stops the integration and is reported (value_error), never stored.
Int32Array run_motion_integrate(const py::array& residuals_in) {
    const Int32Array residuals = vector_field(residuals_in, "residuals");
    const py::ssize_t bh = residuals.shape(0), bw = residuals.shape(1);
    Int32Array out({bh, bw, py::ssize_t{2}});
    int32_t* field = out.mutable_data();
    const int32_t* res = residuals.data();
    int64_t bad = 0;
    bool failed = false;
    {
        py::gil_scoped_release release;
        for (py::ssize_t by = 0; by < bh && !failed; ++by)
            for (py::ssize_t bx = 0; bx < bw && !failed; ++bx) {
                int32_t pred[2];
                nvc::motion::median_predictor(field, bh, bw, by, bx, pred);
                for (int k = 0; k < 2; ++k) {
                    const int64_t v = int64_t{pred[k]} + res[(by * bw + bx) * 2 + k];
                    if (v < -nvc::motion::kMaxMv || v > nvc::motion::kMaxMv) {
                        bad = v;
                        failed = true;
                        break;
                    }
                    field[(by * bw + bx) * 2 + k] = static_cast<int32_t>(v);
                }
            }
    }
    if (failed)
        throw py::value_error("motion vector component " + std::to_string(bad) + " beyond +-" +
                              std::to_string(nvc::motion::kMaxMv) + " quarter pels");
    return out;
}

FloatArray run_motion_warp(const py::array& x_in, const py::array& field_in, int64_t block, int64_t denominator) {
    const FloatArray x = exact_dtype<float>(x_in, "x", "float32");
    const Int32Array field = vector_field(field_in, "field");
    if (x.ndim() != 3) throw py::value_error("x must have shape (C, H, W), got " + shape_text(x));
    if (block <= 0 || block > (int64_t{1} << 30))
        throw py::value_error("block must be in 1..2^30, got " + std::to_string(block));
    const int64_t largest_den = nvc::motion::kMaxWarpDenominator;
    if (denominator <= 0 || denominator > largest_den || (denominator & (denominator - 1)) != 0)
        throw py::value_error("denominator must be a power of two in 1.." + std::to_string(largest_den) + ", got " +
                              std::to_string(denominator));
    const py::ssize_t c = x.shape(0), h = x.shape(1), w = x.shape(2);
    const py::ssize_t bh = (h + block - 1) / block, bw = (w + block - 1) / block;
    if (field.shape(0) < bh || field.shape(1) < bw)
        throw py::value_error("field must have at least " + std::to_string(bh) + " x " + std::to_string(bw) +
                              " vectors for a " + shape_text(x) + " x with block " + std::to_string(block) +
                              ", got " + shape_text(field));
    const int32_t* vectors = field.data();
    const int64_t field_w = field.shape(1), limit = nvc::motion::kMaxWarpVector;
    for (py::ssize_t by = 0; by < bh; ++by)
        for (py::ssize_t i = 0; i < 2 * bw; ++i) {
            const int64_t v = vectors[by * field_w * 2 + i];
            if (v < -limit || v > limit)
                throw py::value_error("field has a vector component " + std::to_string(v) + " beyond +-" +
                                      std::to_string(limit));
        }
    FloatArray out({c, h, w});
    float* out_data = out.mutable_data();
    {
        py::gil_scoped_release release;
        nvc::motion::warp(x.data(), c, h, w, vectors, field_w, block, denominator, out_data);
    }
    return out;
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

    mod.attr("MOTION_MAX_QPEL") = nvc::motion::kMaxMv;
    mod.def("motion_search", &run_motion_search, py::arg("cur"), py::arg("ref"), py::arg("lam"),
            py::arg("search_range"), py::arg("previous") = py::none(),
            "One quarter-pel vector (vy, vx) per 16x16 block, int32 [H//16, W//16, 2], each component within "
            "+-MOTION_MAX_QPEL: block pixel (y, x) is predicted from ref at (y + vy/4, x + vx/4) (bilinear, edges "
            "replicated; native/motion/motion_search.h). cur, ref: float32 [H, W] luma, H and W multiples of 16 "
            "up to 8192. Minimises SAD + lam * bits(v - motion_predictor), blocks in raster order; search_range "
            "(0..64) bounds the integer-pel refinement around the best candidate; previous: the previous frame's "
            "field (int32 [H//16, W//16, 2]) as candidates, or None.");
    mod.def("motion_warp", &run_motion_warp, py::arg("x"), py::arg("field"), py::arg("block"),
            py::arg("denominator"),
            "x (float32 [C, H, W]) moved by a per-block field (int32 [h, w, 2], (vy, vx) in 1/denominator of a "
            "sample, one vector per block x block samples, h * block >= H and w * block >= W, extra vectors unused): "
            "the bilinear, edge-replicating warp of nvcodec.codec.motion.warp, bit for bit (native/motion/warp.h). "
            "block >= 1; denominator a power of two up to 64; components within +-2^20. Returns float32 [C, H, W].");
    mod.def("motion_integrate", &run_motion_integrate, py::arg("residuals"),
            "The field whose residuals against motion_predictor are the given int32 [h, w, 2] ones, built in "
            "raster order; ValueError names the first vector component beyond +-MOTION_MAX_QPEL.");
    mod.def("motion_predictor", &run_motion_predictor, py::arg("field"),
            "The vector predictor of every block of an int32 [h, w, 2] field, as motion_search and the bitstream "
            "use it: the left vector in the first row ((0, 0) for the first block), below it the component-wise "
            "median of the left, top and top-right vectors ((0, 0) outside the field; top-left for top-right in "
            "the last column).");
}
