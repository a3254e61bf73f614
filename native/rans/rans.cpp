// rANS coder for DCVC-RT payloads; the format is described in rans.h.
#include "rans/rans.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <thread>

namespace nvc::rans {
namespace {

constexpr uint32_t kBypassFreq = 1u << (kPrecision - kBypassBits);
constexpr uint32_t kBypassXMax = kBypassFreq << 15;
// Decoder lookup budget: at most this many uint16 bucket entries per table.
constexpr size_t kLutBudget = size_t{1} << 20;
constexpr int kLutMaxBits = 7;

std::string at(const char* what, size_t i) { return std::string(what) + " (row " + std::to_string(i) + ")"; }

int ceil_log2(uint32_t v) {
    int l = 0;
    while ((uint64_t{1} << l) < v) ++l;
    return l;
}

// Output grows towards lower addresses: bytes live in buf[pos, buf.size()).
class BackWriter {
public:
    explicit BackWriter(size_t hint) : buf_(std::max<size_t>(hint, 64)) {
        lo_ = buf_.data();
        p_ = lo_ + buf_.size();
    }

    // Makes room for at least k more bytes in front of p.
    inline void reserve(size_t k) {
        if (static_cast<size_t>(p_ - lo_) < k) grow(k);
    }
    inline void put(uint8_t b) { *--p_ = b; }

    // Emits the low n (0..2) bytes of x, low byte last in memory order; needs
    // reserve(2).  Both bytes are stored every time so that no branch depends
    // on n; a byte not kept is overwritten later or falls outside the result.
    inline void put_low_bytes(uint32_t x, unsigned n) {
        p_[-1] = static_cast<uint8_t>(x);
        p_[-2] = static_cast<uint8_t>(x >> 8);
        p_ -= n;
    }

    std::vector<uint8_t> take() {
        const size_t used = static_cast<size_t>(lo_ + buf_.size() - p_);
        return std::vector<uint8_t>(p_, p_ + used);
    }

private:
    void grow(size_t k) {
        const size_t used = static_cast<size_t>(lo_ + buf_.size() - p_);
        std::vector<uint8_t> bigger(std::max(buf_.size() * 2, used + k + 64));
        std::memcpy(bigger.data() + bigger.size() - used, p_, used);
        buf_.swap(bigger);
        lo_ = buf_.data();
        p_ = lo_ + buf_.size() - used;
    }

    std::vector<uint8_t> buf_;
    uint8_t* lo_;
    uint8_t* p_;
};

inline void put_bits(uint32_t& x, BackWriter& w, uint32_t bits) {
    while (x >= kBypassXMax) {
        w.put(static_cast<uint8_t>(x));
        x >>= 8;
    }
    x = (x << kBypassBits) | bits;
}

// Escape payload for value v (outside [0, max_value)), pushed so that the
// decoder pops the chunk count first and then the chunks, low bits first.
void put_escape(uint32_t& x, BackWriter& w, int64_t v, int32_t max_value) {
    const uint64_t raw = v < 0 ? static_cast<uint64_t>(-2 * v - 1) : static_cast<uint64_t>(2 * (v - max_value));
    int n = 0;
    while (n < 32 && (raw >> (kBypassBits * n)) != 0) ++n;
    w.reserve(static_cast<size_t>(n + n / 3 + 8));
    for (int j = n - 1; j >= 0; --j) put_bits(x, w, static_cast<uint32_t>(raw >> (kBypassBits * j)) & 3u);
    put_bits(x, w, static_cast<uint32_t>(n % 3));
    for (int j = 0; j < n / 3; ++j) put_bits(x, w, 3u);
}

std::vector<uint8_t> encode_lane(const std::vector<Encoder::Segment>& segments) {
    size_t total = 0;
    for (const auto& s : segments) total += s.n;
    if (total == 0) return {};

    BackWriter w(total + total / 4 + 64);
    uint32_t x = kStateLow;
    for (auto seg = segments.rbegin(); seg != segments.rend(); ++seg) {
        const CdfTable& t = *seg->table;
        const CdfTable::EncBin* bins = t.bins();
        const int32_t* symbols = seg->symbols;
        const int32_t* indexes = seg->indexes;
        for (size_t i = seg->n; i-- > 0;) {
            const CdfTable::Row& row = t.row(static_cast<size_t>(indexes[i]));
            const int64_t v = int64_t{symbols[i]} - row.offset;
            const CdfTable::EncBin* b;
            if (static_cast<uint64_t>(v) < static_cast<uint64_t>(row.max_value)) {
                b = bins + row.bin_base + static_cast<uint32_t>(v);
            } else {
                put_escape(x, w, v, row.max_value);
                b = bins + row.bin_base + static_cast<uint32_t>(row.max_value);
            }
            // x < 2^31 and x_max >= 2^15, so at most two bytes go out.
            w.reserve(2);
            const unsigned n_out =
                static_cast<unsigned>(x >= b->x_max) + static_cast<unsigned>(uint64_t{x} >= (uint64_t{b->x_max} << 8));
            w.put_low_bytes(x, n_out);
            x >>= 8 * n_out;
            const uint32_t q = static_cast<uint32_t>((uint64_t{x} * b->rcp) >> b->shift);
            x += b->start + q * b->cmpl;
        }
    }
    w.reserve(4);
    for (int k = 3; k >= 0; --k) w.put(static_cast<uint8_t>(x >> (8 * k)));
    return w.take();
}

// Runs f(1) on a helper thread and f(0) here; rethrows the first failure.
template <typename F>
void run_two(F&& f) {
    std::exception_ptr err1;
    std::thread helper([&] {
        try {
            f(1);
        } catch (...) {
            err1 = std::current_exception();
        }
    });
    std::exception_ptr err0;
    try {
        f(0);
    } catch (...) {
        err0 = std::current_exception();
    }
    helper.join();
    if (err0) std::rethrow_exception(err0);
    if (err1) std::rethrow_exception(err1);
}

class LaneReader {
public:
    explicit LaneReader(Decoder::Lane& lane)
        : lane_(lane), data_(lane.data), size_(lane.size), pos_(lane.pos), x_(lane.x) {}
    ~LaneReader() {
        lane_.pos = pos_;
        lane_.x = x_;
    }

    inline uint32_t byte() {
        if (pos_ < size_) return data_[pos_++];
        lane_.overrun = true;
        return 0;
    }

    void start() {
        if (lane_.started) return;
        lane_.started = true;
        uint32_t x = 0;
        for (int k = 0; k < 4; ++k) x |= byte() << (8 * k);
        // A conforming encoder never leaves a state below the lower bound; the
        // decoder's loops rely on that bound to terminate.
        if (x < kStateLow) {
            lane_.corrupt = true;
            x = kStateLow;
        }
        x_ = x;
    }

    // Brings x back to >= 2^23.  x >= 2^7 here (it was >= 2^23 before the
    // symbol and every frequency is >= 1), so at most three bytes are needed;
    // away from the end of the data they are read without branching on n.
    inline void refill() {
        if (x_ >= kStateLow) return;
        if (size_ - pos_ >= 4) {
            const unsigned n = 1u + static_cast<unsigned>(x_ < (kStateLow >> 8)) +
                               static_cast<unsigned>(x_ < (kStateLow >> 16));
            const uint8_t* p = data_ + pos_;
            const uint32_t next = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
            x_ = static_cast<uint32_t>(((uint64_t{x_} << 32) | next) >> (32 - 8 * n));
            pos_ += n;
            return;
        }
        while (x_ < kStateLow) x_ = (x_ << 8) | byte();
    }

    inline uint32_t bits() {
        const uint32_t v = x_ & 3u;
        x_ >>= kBypassBits;
        if (x_ < kStateLow) x_ = (x_ << 8) | byte();
        return v;
    }

    int64_t escape(int32_t max_value) {
        uint32_t v = bits();
        int n = static_cast<int>(v);
        while (v == 3u && n <= kMaxBypassChunks) {
            v = bits();
            n += static_cast<int>(v);
        }
        if (n > kMaxBypassChunks) {
            lane_.corrupt = true;
            return max_value;
        }
        uint64_t raw = 0;
        for (int j = 0; j < n; ++j) raw |= uint64_t{bits()} << (kBypassBits * j);
        const int64_t half = static_cast<int64_t>(raw >> 1);
        return (raw & 1u) ? -half - 1 : half + max_value;
    }

    void run(const int32_t* idx, size_t n, const CdfTable& t, int32_t* out) {
        if (n == 0) return;
        start();
        const uint32_t* cdf = t.cdf_data();
        const uint16_t* lut = t.lut();
        const int shift = t.lut_shift();
        for (size_t i = 0; i < n; ++i) {
            const CdfTable::Row& row = t.row(static_cast<size_t>(idx[i]));
            const uint32_t* c = cdf + row.cdf_base;
            const uint32_t cum = x_ & (kTotal - 1);
            uint32_t s = lut[row.lut_base + (cum >> shift)];
            while (c[s + 1] <= cum) ++s;
            const uint32_t start = c[s];
            x_ = (c[s + 1] - start) * (x_ >> kPrecision) + cum - start;
            refill();
            if (static_cast<int32_t>(s) != row.max_value) {
                out[i] = static_cast<int32_t>(s) + row.offset;
                continue;
            }
            const int64_t value = escape(row.max_value) + row.offset;
            if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
                lane_.corrupt = true;
                out[i] = value < 0 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
            } else {
                out[i] = static_cast<int32_t>(value);
            }
        }
    }

private:
    Decoder::Lane& lane_;
    const uint8_t* data_;
    size_t size_;
    size_t pos_;
    uint32_t x_;
};

}  // namespace

// ---------------------------------------------------------------------------
// CdfTable

CdfTable::CdfTable(const int32_t* cdf, size_t rows, size_t stride, const int32_t* lengths,
                   const int32_t* offsets)
    : stride_(stride) {
    if (rows == 0) throw InvalidArgument("a CDF table needs at least one row");
    if (stride < 3) throw InvalidArgument("CDF rows need at least 3 entries");
    if (stride > kTotal + 1) throw InvalidArgument("CDF rows cannot have more than 65537 entries");
    if (rows > (size_t{1} << 26) / stride) throw InvalidArgument("CDF table too large");

    rows_.resize(rows);
    size_t n_cdf = 0;
    for (size_t r = 0; r < rows; ++r) {
        const int32_t len = lengths[r];
        if (len < 3 || static_cast<size_t>(len) > stride)
            throw InvalidArgument(at("CDF length must be in 3..row size", r));
        if (offsets[r] < -kMaxAbsOffset || offsets[r] > kMaxAbsOffset)
            throw InvalidArgument(at("CDF offset must be within +-2^30", r));
        const int32_t* c = cdf + r * stride;
        if (c[0] != 0) throw InvalidArgument(at("CDF must start at 0", r));
        if (c[len - 1] != static_cast<int32_t>(kTotal)) throw InvalidArgument(at("CDF must end at 65536", r));
        for (int32_t k = 1; k < len; ++k)
            if (c[k] <= c[k - 1]) throw InvalidArgument(at("CDF must be strictly increasing", r));
        n_cdf += static_cast<size_t>(len);
    }

    int bits = 0;
    while (bits < kLutMaxBits && (rows << (bits + 1)) <= kLutBudget) ++bits;
    lut_shift_ = kPrecision - bits;
    const size_t buckets = size_t{1} << bits;

    cdf_.reserve(n_cdf);
    bins_.reserve(n_cdf - rows);
    lut_.resize(rows * buckets);
    for (size_t r = 0; r < rows; ++r) {
        const int32_t len = lengths[r];
        const int32_t* c = cdf + r * stride;
        Row& row = rows_[r];
        row.offset = offsets[r];
        row.max_value = len - 2;
        row.cdf_base = static_cast<uint32_t>(cdf_.size());
        row.bin_base = static_cast<uint32_t>(bins_.size());
        row.lut_base = static_cast<uint32_t>(r * buckets);
        for (int32_t k = 0; k < len; ++k) cdf_.push_back(static_cast<uint32_t>(c[k]));
        for (int32_t k = 0; k + 1 < len; ++k) {
            const uint32_t freq = static_cast<uint32_t>(c[k + 1] - c[k]);
            const int l = ceil_log2(freq);
            EncBin b;
            b.x_max = freq << 15;
            b.shift = static_cast<uint32_t>(31 + l);
            // ceil(2^(31+l) / freq) < 2^32 for every freq in 1..65535.
            b.rcp = static_cast<uint32_t>(((uint64_t{1} << (31 + l)) + freq - 1) / freq);
            b.start = static_cast<uint32_t>(c[k]);
            b.cmpl = kTotal - freq;
            bins_.push_back(b);
        }
        uint16_t* bucket = lut_.data() + row.lut_base;
        int32_t s = 0;
        for (size_t j = 0; j < buckets; ++j) {
            const int32_t cum = static_cast<int32_t>(j << lut_shift_);
            while (c[s + 1] <= cum) ++s;
            bucket[j] = static_cast<uint16_t>(s);
        }
    }
}

size_t CdfTable::find_bad_index(const int32_t* idx, size_t n) const {
    const uint32_t rows = static_cast<uint32_t>(rows_.size());
    for (size_t i = 0; i < n; ++i)
        if (static_cast<uint32_t>(idx[i]) >= rows) return i;
    return n;
}

// ---------------------------------------------------------------------------
// Encoder

void Encoder::push(const int32_t* symbols, const int32_t* indexes, size_t n,
                   std::shared_ptr<const CdfTable> table) {
    if (!table) throw InvalidArgument("no CDF table");
    Chunk chunk{std::unique_ptr<int32_t[]>(new int32_t[2 * n]), table};
    int32_t* sym = chunk.data.get();
    int32_t* idx = sym + n;
    // Copy and range-check in one pass; the message needs a second look only on failure.
    const uint32_t rows = static_cast<uint32_t>(table->rows());
    bool bad = false;
    for (size_t i = 0; i < n; ++i) {
        sym[i] = symbols[i];
        idx[i] = indexes[i];
        bad |= static_cast<uint32_t>(indexes[i]) >= rows;
    }
    if (bad) {
        const size_t at = table->find_bad_index(indexes, n);
        throw InvalidArgument("index " + std::to_string(indexes[at]) + " at position " + std::to_string(at) +
                              " is not a row of the table (" + std::to_string(rows) + " rows)");
    }
    const size_t h = two_ec_ ? n / 2 : n;
    if (h > 0) lanes_[0].push_back({sym, idx, h, table.get()});
    if (n > h) lanes_[1].push_back({sym + h, idx + h, n - h, table.get()});
    chunks_.push_back(std::move(chunk));
    pending_ += n;
}

std::vector<uint8_t> Encoder::flush() {
    std::vector<uint8_t> streams[2];
    auto lane = [&](int k) { streams[k] = encode_lane(lanes_[k]); };
    size_t sizes[2] = {0, 0};
    for (int k = 0; k < 2; ++k)
        for (const auto& s : lanes_[k]) sizes[k] += s.n;
    if (sizes[0] >= kThreadMinSymbols && sizes[1] >= kThreadMinSymbols) {
        run_two(lane);
    } else {
        lane(0);
        lane(1);
    }
    reset();
    if (!two_ec_) return std::move(streams[0]);
    return merge_streams(streams[0], streams[1]);
}

void Encoder::reset() {
    chunks_.clear();
    lanes_[0].clear();
    lanes_[1].clear();
    pending_ = 0;
}

std::vector<uint8_t> merge_streams(const std::vector<uint8_t>& s0, const std::vector<uint8_t>& s1) {
    size_t shared = 0;
    if (!s0.empty() && !s1.empty()) {
        const size_t limit = std::min({s0.size(), s1.size(), size_t{8}});
        while (shared < limit && s0[s0.size() - 1 - shared] == 0 && s1[s1.size() - 1 - shared] == 0) ++shared;
        if (shared == 0 && s0.back() == s1.back()) shared = 1;
    }
    std::vector<uint8_t> out;
    out.reserve(s0.size() + s1.size() - shared);
    out.insert(out.end(), s0.begin(), s0.end());
    out.insert(out.end(), s1.rbegin() + static_cast<std::ptrdiff_t>(shared), s1.rend());
    return out;
}

// ---------------------------------------------------------------------------
// Decoder

Decoder::Decoder(const uint8_t* data, size_t size, bool two_ec) : two_ec_(two_ec), forward_(data, data + size) {
    lanes_[0].data = forward_.data();
    lanes_[0].size = size;
    if (two_ec) {
        // Coder 1's bytes sit reversed at the end of the payload.
        backward_.assign(forward_.rbegin(), forward_.rend());
        lanes_[1].data = backward_.data();
        lanes_[1].size = size;
    }
}

void Decoder::decode(const int32_t* idx, size_t n, const CdfTable& table, int32_t* out) {
    if (!two_ec_) {
        LaneReader(lanes_[0]).run(idx, n, table, out);
        return;
    }
    const size_t h = n / 2;
    auto lane = [&](int k) {
        if (k == 0)
            LaneReader(lanes_[0]).run(idx, h, table, out);
        else
            LaneReader(lanes_[1]).run(idx + h, n - h, table, out + h);
    };
    if (h >= kThreadMinSymbols) {
        run_two(lane);
    } else {
        lane(0);
        lane(1);
    }
}

bool Decoder::finished() const {
    if (!ok()) return false;
    size_t used = 0;
    int started = 0;
    for (const Lane& l : lanes_) {
        if (!l.started) continue;
        if (l.x != kStateLow) return false;
        used += l.pos;
        ++started;
    }
    const size_t size = forward_.size();
    // Two streams that both hold data may share up to 8 tail bytes.
    if (started == 2) return used >= size && used - size <= 8;
    return used == size;
}

}  // namespace nvc::rans
