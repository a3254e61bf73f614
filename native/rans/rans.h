// Byte-wise rANS coder that writes and reads DCVC-RT frame payloads.
//
// Plain C++17, no Python: the pybind11 layer lives in native/bindings.cpp.
//
// Format (must stay byte-identical to the DCVC-RT reference):
//   * 32-bit state x kept in [2^23, 2^31) between symbols; 16-bit probabilities.
//   * Before pushing a symbol of frequency f the encoder emits the low byte of x
//     while x >= f << 15; the final state goes out as 4 bytes, little-endian,
//     in front of everything else.  Bytes are produced back to front, so the
//     decoder reads the state and then walks forward.
//   * A value v = symbol - offset outside [0, length - 2) is coded as the escape
//     bin (length - 2), followed by 2-bit bypass chunks (frequency 2^14 each):
//     first the chunk count as a run of 3s closed by a remainder below 3, then
//     the chunks, least significant first, of 2*(v - (length-2)) when v is too
//     large or -2*v - 1 when v is negative.
//   * All queued arrays are coded last-first so that the decoder sees them in
//     the order they were queued.
//   * Two-coder mode splits every array at n/2: coder 0 takes the front, coder 1
//     the back.  The payload is coder 0's bytes followed by coder 1's bytes
//     reversed, with the tail they share stored once (see merge_streams).
//
// Decoding never trusts the payload: reads past the end return zero bytes and
// raise a sticky flag, escape chunk counts are bounded, and no table lookup
// depends on the data beyond a 16-bit value that every table row covers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nvc::rans {

inline constexpr int kPrecision = 16;
inline constexpr uint32_t kTotal = 1u << kPrecision;
inline constexpr uint32_t kStateLow = 1u << 23;
inline constexpr int kBypassBits = 2;
// 64-bit raw escape values reach 34 bits for int32 symbols and offsets within
// +-2^30, i.e. 17 chunks; anything longer cannot come from a conforming encoder.
inline constexpr int kMaxBypassChunks = 17;
inline constexpr int32_t kMaxAbsOffset = 1 << 30;
// Decoder lookup buckets per table row (fewer for tables with very many rows).
inline constexpr int kLutBits = 6;
inline constexpr int kLutShift = kPrecision - kLutBits;

// Raised for arguments the caller could have checked (bad table, bad index).
class InvalidArgument : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Quantised CDF rows, validated once and then read-only (safe to share between
// threads and coders).  Row r is cdf[r*stride .. r*stride + lengths[r]).
class CdfTable {
public:
    CdfTable(const int32_t* cdf, size_t rows, size_t stride, const int32_t* lengths,
             const int32_t* offsets);

    size_t rows() const { return rows_.size(); }
    size_t stride() const { return stride_; }
    int32_t length(size_t r) const { return rows_[r].max_value + 2; }
    int32_t offset(size_t r) const { return rows_[r].offset; }
    uint32_t cdf(size_t r, size_t k) const { return cdf_[rows_[r].cdf_base + k]; }

    // Encoder view of one bin: everything needed to push it without dividing.
    // 16 bytes, so that a Gaussian table's bins stay in L1.
    struct EncBin {
        uint32_t rcp;     // ceil(2^shift / freq): x / freq == (x * rcp) >> shift for x < 2^31
        uint32_t x_max;   // renormalise while x >= x_max (= freq << 15)
        uint16_t start;   // cumulative frequency below the bin (< 2^16)
        uint16_t cmpl;    // 2^16 - freq (freq >= 1, so it fits)
        uint32_t shift;   // 31 + ceil(log2(freq))
    };
    struct Row {
        int32_t offset;
        int32_t max_value;   // escape bin index = length - 2
        uint32_t cdf_base;   // first cdf_ entry of the row
        uint32_t bin_base;   // first bins_ entry of the row
        uint32_t lut_base;   // first lut_ entry of the row
        // The decoder's window: the kWindow adjacent bins that hold the most
        // probability, tried first.  cum lies in it when cum - win_lo <
        // win_span; win_edge[k] is where its bin k + 1 starts (past 65535
        // when the row has fewer bins), win_bin[k] packs bin k as
        // freq | start << 32 | symbol << 48.
        uint32_t win_lo;
        uint32_t win_span;
        uint32_t win_edge[2];  // kWindow - 1
        static constexpr int kWindow = 3;
        uint64_t win_bin[kWindow];
    };

    const Row& row(size_t r) const { return rows_[r]; }
    const uint32_t* cdf_data() const { return cdf_.data(); }
    const EncBin* bins() const { return bins_.data(); }
    // Decoder view of a bin: what updating the state needs, in one load.
    struct DecBin {
        uint16_t freq;
        uint16_t start;
    };
    const uint16_t* lut() const { return lut_.data(); }
    const DecBin* lut_bins() const { return lut_bins_.data(); }
    int lut_shift() const { return lut_shift_; }

    // Index of the first entry of idx[0..n) that is not a row of this table, or n.
    size_t find_bad_index(const int32_t* idx, size_t n) const;

private:
    size_t stride_;
    std::vector<Row> rows_;
    std::vector<uint32_t> cdf_;
    std::vector<EncBin> bins_;
    // Decoder shortcut: lut_[row.lut_base + (cum >> lut_shift_)] is the bin that
    // holds the first cumulative value of that bucket, and lut_bins_ at the same
    // place holds that bin's frequency and start, so that the common case
    // needs one lookup; when cum lies past that bin a short forward scan of
    // the row finishes the search.  Rows get kLutBuckets buckets each, fewer
    // only in tables with very many rows.
    std::vector<uint16_t> lut_;
    std::vector<DecBin> lut_bins_;
    int lut_shift_;
};

// Queues arrays, then codes them all at flush().  Not safe for concurrent use
// from several threads (the Python binding refuses a second caller through
// busy()).
class Encoder {
public:
    explicit Encoder(bool two_ec) : two_ec_(two_ec) {}

    bool two_ec() const { return two_ec_; }
    size_t pending() const { return pending_; }

    // Queues an array without copying it: symbols and indexes must stay
    // valid until flush() or reset() (the Python binding holds references
    // to them), and should stay unchanged.  Throws InvalidArgument (and
    // queues nothing) when an index is not a row of the table; flush()
    // checks the indexes again, so a change in between can make it throw but
    // never read outside the table.
    void push(const int32_t* symbols, const int32_t* indexes, size_t n,
              std::shared_ptr<const CdfTable> table);

    // Codes everything queued into one payload and empties the queue.
    std::vector<uint8_t> flush();

    void reset();

    // Guard that refuses concurrent use of one coder object.
    std::atomic<bool>& busy() { return busy_; }

    // A run of queued symbols that one coder codes with one table.
    struct Segment {
        const int32_t* symbols;
        const int32_t* indexes;
        size_t n;
        const CdfTable* table;
    };

private:
    bool two_ec_;
    size_t pending_ = 0;
    std::vector<std::shared_ptr<const CdfTable>> tables_;
    std::vector<Segment> lanes_[2];
    std::vector<uint8_t> scratch_[2];  // per-coder output buffers, reused
    std::atomic<bool> busy_{false};
};

// Payload of two coders: s0, then s1 reversed, storing the common tail once.
// The tail is up to 8 zero bytes that end both streams, or else a single
// last byte the two streams share.  Either stream may be empty.
std::vector<uint8_t> merge_streams(const std::vector<uint8_t>& s0, const std::vector<uint8_t>& s1);

// Reads one payload array by array, in the order the encoder queued them.
class Decoder {
public:
    Decoder(const uint8_t* data, size_t size, bool two_ec);

    bool two_ec() const { return two_ec_; }

    // Decodes n symbols; idx should be rows of the table (checked with
    // CdfTable::find_bad_index beforehand: a row out of range found here
    // anyway, say because another thread changed idx, marks the data corrupt).
    // Never throws for bad data.
    void decode(const int32_t* idx, size_t n, const CdfTable& table, int32_t* out);

    // False once the payload proved truncated or corrupt.
    bool ok() const { return !truncated() && !corrupt(); }
    // A read went past the end of the payload (zeros were used instead).
    bool truncated() const { return lanes_[0].overrun || lanes_[1].overrun; }
    // A state, escape or row appeared that no conforming encoder produces.
    bool corrupt() const { return lanes_[0].corrupt || lanes_[1].corrupt; }
    // True when every byte was used and every started coder is back to its
    // initial state: what a complete, untampered payload leaves behind.
    bool finished() const;
    // Bytes each coder has read so far (coder 1 counts from the end).
    size_t consumed(int lane) const { return lanes_[lane].pos; }

    std::atomic<bool>& busy() { return busy_; }

    struct Lane {
        const uint8_t* data = nullptr;
        size_t size = 0;
        size_t pos = 0;
        uint32_t x = 0;
        bool started = false;
        bool overrun = false;   // a read went past the data
        bool corrupt = false;   // a state, escape or row no conforming encoder makes
    };

private:
    bool two_ec_;
    size_t size_;
    std::vector<uint8_t> forward_;
    std::vector<uint8_t> backward_;
    Lane lanes_[2];
    std::atomic<bool> busy_{false};
};

// The reference's pmf -> 16-bit CDF quantiser (ryg_rans procedure), including
// its float32 rounding: freq = round(p * 65536) in float, rescale by the total
// in 64-bit integers, prefix sum, last entry forced to 65536, then every empty
// bin takes one unit from the smallest bin wider than 1.  pmf[n-1] is the tail
// mass; the result has n + 1 entries.  Throws InvalidArgument for pmfs the
// reference cannot handle (negative or non-finite entries, zero total, or no
// bin left to steal from).
std::vector<int32_t> pmf_to_quantized_cdf(const float* pmf, size_t n);

// Minimum symbols per half before two-coder mode codes the halves on two
// threads.  Starting and joining a thread costs about 10 us; below this size
// one thread that interleaves the two coders (whose dependency chains then
// overlap) is as fast.
inline constexpr size_t kThreadMinSymbols = 8192;

}  // namespace nvc::rans
