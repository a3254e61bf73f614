// pybind11 face of the rANS coder: numpy buffers in and out, every size and
// index checked while the GIL is held, the coding itself run without it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rans/rans.h"

namespace py = pybind11;
namespace r = nvc::rans;

namespace {

template <typename T>
const T* require_array(const py::array& a, const char* name, py::ssize_t ndim) {
    if (!a.dtype().is(py::dtype::of<T>()))
        throw py::value_error(std::string(name) + " must have dtype " +
                              py::str(py::dtype::of<T>()).cast<std::string>() + ", got " +
                              py::str(a.dtype()).cast<std::string>());
    if (a.ndim() != ndim)
        throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) + " dimension(s), got " +
                              std::to_string(a.ndim()));
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
    return static_cast<const T*>(a.data());
}

// Refuses a second thread on a coder object while the first runs without the GIL.
class BusyGuard {
public:
    explicit BusyGuard(std::atomic<bool>& flag) : flag_(flag) {
        if (flag_.exchange(true)) throw std::runtime_error("coder object is already in use by another thread");
    }
    ~BusyGuard() { flag_.store(false); }
    BusyGuard(const BusyGuard&) = delete;
    BusyGuard& operator=(const BusyGuard&) = delete;

private:
    std::atomic<bool>& flag_;
};

void check_indexes(const r::CdfTable& table, const int32_t* idx, size_t n) {
    const size_t bad = table.find_bad_index(idx, n);
    if (bad != n)
        throw py::value_error("index " + std::to_string(idx[bad]) + " at position " + std::to_string(bad) +
                              " is not a row of the table (" + std::to_string(table.rows()) + " rows)");
}

std::shared_ptr<r::CdfTable> make_table(const py::array& cdf, const py::array& lengths, const py::array& offsets) {
    const int32_t* c = require_array<int32_t>(cdf, "cdf", 2);
    const int32_t* len = require_array<int32_t>(lengths, "lengths", 1);
    const int32_t* off = require_array<int32_t>(offsets, "offsets", 1);
    const auto rows = static_cast<size_t>(cdf.shape(0));
    if (static_cast<size_t>(lengths.shape(0)) != rows || static_cast<size_t>(offsets.shape(0)) != rows)
        throw py::value_error("cdf, lengths and offsets must have the same number of rows");
    return std::make_shared<r::CdfTable>(c, rows, static_cast<size_t>(cdf.shape(1)), len, off);
}

py::array_t<int32_t> quantize_one(const py::array& pmf) {
    const float* p = require_array<float>(pmf, "pmf", 1);
    const std::vector<int32_t> cdf = r::pmf_to_quantized_cdf(p, static_cast<size_t>(pmf.shape(0)));
    py::array_t<int32_t> out(static_cast<py::ssize_t>(cdf.size()));
    std::copy(cdf.begin(), cdf.end(), out.mutable_data());
    return out;
}

py::tuple quantize_batch(const py::array& pmfs, const py::array& pmf_lengths, const py::array& tail_mass) {
    const float* p = require_array<float>(pmfs, "pmfs", 2);
    const int32_t* len = require_array<int32_t>(pmf_lengths, "pmf_lengths", 1);
    const float* tail = require_array<float>(tail_mass, "tail_mass", 1);
    const auto rows = static_cast<size_t>(pmfs.shape(0));
    const auto width = static_cast<size_t>(pmfs.shape(1));
    if (static_cast<size_t>(pmf_lengths.shape(0)) != rows || static_cast<size_t>(tail_mass.shape(0)) != rows)
        throw py::value_error("pmfs, pmf_lengths and tail_mass must have the same number of rows");
    py::array_t<int32_t> cdf({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width + 2)});
    py::array_t<int32_t> cdf_lengths(static_cast<py::ssize_t>(rows));
    int32_t* out = cdf.mutable_data();
    std::fill(out, out + rows * (width + 2), 0);
    std::vector<float> row;
    for (size_t i = 0; i < rows; ++i) {
        if (len[i] < 1 || static_cast<size_t>(len[i]) > width)
            throw py::value_error("pmf_lengths[" + std::to_string(i) + "] must be in 1.." + std::to_string(width));
        row.assign(p + i * width, p + i * width + len[i]);
        row.push_back(tail[i]);
        const std::vector<int32_t> q = r::pmf_to_quantized_cdf(row.data(), row.size());
        std::copy(q.begin(), q.end(), out + i * (width + 2));
        cdf_lengths.mutable_data()[i] = len[i] + 2;
    }
    return py::make_tuple(cdf, cdf_lengths);
}

// The coder reads the queued arrays in place at flush(); these references
// keep them alive until then.
struct PyEncoder {
    explicit PyEncoder(bool two_ec) : coder(two_ec) {}
    r::Encoder coder;
    std::vector<py::array> borrowed;
};

}  // namespace

PYBIND11_MODULE(_rans, m) {
    m.doc() = "Native rANS coder for DCVC-RT payloads (see nvcodec.entropy.rans).";
    m.attr("PRECISION") = r::kPrecision;
    m.attr("MAX_ABS_OFFSET") = r::kMaxAbsOffset;

    py::class_<r::CdfTable, std::shared_ptr<r::CdfTable>>(m, "CdfTable")
        .def(py::init(&make_table), py::arg("cdf"), py::arg("lengths"), py::arg("offsets"))
        .def_property_readonly("num_rows", &r::CdfTable::rows)
        .def_property_readonly("row_size", &r::CdfTable::stride);

    py::class_<PyEncoder>(m, "RansEncoder")
        .def(py::init<bool>(), py::arg("two_ec") = false)
        .def_property_readonly("two_ec", [](const PyEncoder& e) { return e.coder.two_ec(); })
        .def_property_readonly("pending", [](const PyEncoder& e) { return e.coder.pending(); })
        .def(
            "encode",
            [](PyEncoder& e, const py::array& symbols, const py::array& indexes,
               const std::shared_ptr<r::CdfTable>& table) {
                BusyGuard guard(e.coder.busy());
                const int32_t* s = require_array<int32_t>(symbols, "symbols", 1);
                const int32_t* i = require_array<int32_t>(indexes, "indexes", 1);
                if (symbols.shape(0) != indexes.shape(0))
                    throw py::value_error("symbols and indexes must have the same length");
                e.coder.push(s, i, static_cast<size_t>(symbols.shape(0)), table);
                e.borrowed.push_back(symbols);
                e.borrowed.push_back(indexes);
            },
            py::arg("symbols"), py::arg("indexes"), py::arg("table"))
        .def("flush",
             [](PyEncoder& e) {
                 BusyGuard guard(e.coder.busy());
                 std::vector<uint8_t> out;
                 try {
                     py::gil_scoped_release nogil;
                     out = e.coder.flush();
                 } catch (...) {
                     e.borrowed.clear();
                     throw;
                 }
                 e.borrowed.clear();
                 return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
             })
        .def("reset", [](PyEncoder& e) {
            BusyGuard guard(e.coder.busy());
            e.coder.reset();
            e.borrowed.clear();
        });

    py::class_<r::Decoder>(m, "RansDecoder")
        .def(py::init([](const py::buffer& payload, bool two_ec) {
                 const py::buffer_info info = payload.request();
                 if (info.itemsize != 1 || info.ndim > 1 || (info.ndim == 1 && info.strides[0] != 1))
                     throw py::value_error("payload must be contiguous bytes");
                 return new r::Decoder(static_cast<const uint8_t*>(info.ptr), static_cast<size_t>(info.size),
                                       two_ec);
             }),
             py::arg("payload"), py::arg("two_ec") = false)
        .def_property_readonly("two_ec", &r::Decoder::two_ec)
        .def_property_readonly("ok", &r::Decoder::ok)
        .def_property_readonly("truncated", &r::Decoder::truncated)
        .def_property_readonly("corrupt", &r::Decoder::corrupt)
        .def("finished", &r::Decoder::finished)
        .def(
            "decode",
            [](r::Decoder& dec, const py::array& indexes, const std::shared_ptr<r::CdfTable>& table,
               std::optional<py::array> out) {
                BusyGuard guard(dec.busy());
                const int32_t* idx = require_array<int32_t>(indexes, "indexes", 1);
                const auto n = static_cast<size_t>(indexes.shape(0));
                check_indexes(*table, idx, n);
                py::array_t<int32_t> result;
                if (out) {
                    require_array<int32_t>(*out, "out", 1);
                    if (static_cast<size_t>(out->shape(0)) != n)
                        throw py::value_error("out must have the length of indexes");
                    if (!out->writeable()) throw py::value_error("out must be writeable");
                    result = py::reinterpret_borrow<py::array_t<int32_t>>(*out);
                } else {
                    result = py::array_t<int32_t>(static_cast<py::ssize_t>(n));
                }
                int32_t* o = result.mutable_data();
                {
                    py::gil_scoped_release nogil;
                    dec.decode(idx, n, *table, o);
                }
                return result;
            },
            py::arg("indexes"), py::arg("table"), py::arg("out") = py::none());

    m.def("pmf_to_quantized_cdf", &quantize_one, py::arg("pmf"));
    m.def("quantize_pmfs", &quantize_batch, py::arg("pmfs"), py::arg("pmf_lengths"), py::arg("tail_mass"));
}
