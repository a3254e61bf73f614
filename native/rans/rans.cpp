// rANS coder for DCVC-RT payloads; the format is described in rans.h.
#include "rans/rans.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace nvc::rans {
namespace {

constexpr uint32_t kBypassFreq = 1u << (kPrecision - kBypassBits);
constexpr uint32_t kBypassXMax = kBypassFreq << 15;
// Decoder lookup budget: at most this many uint16 bucket entries per table.
constexpr size_t kLutBudget = size_t{1} << 20;

std::string at(const char* what, size_t i) { return std::string(what) + " (row " + std::to_string(i) + ")"; }

int ceil_log2(uint32_t v) {
    int l = 0;
    while ((uint64_t{1} << l) < v) ++l;
    return l;
}

#if defined(__GNUC__) || defined(__clang__)
#define NVC_INLINE inline __attribute__((always_inline))
#define NVC_NOINLINE __attribute__((noinline))
#define NVC_UNLIKELY(c) __builtin_expect(static_cast<bool>(c), 0)
#define NVC_LIKELY(c) __builtin_expect(static_cast<bool>(c), 1)
#else
#define NVC_INLINE inline
#define NVC_NOINLINE
#define NVC_UNLIKELY(c) (c)
#define NVC_LIKELY(c) (c)
#endif

// Selects as a compare and a conditional move.  The renormalisation tests of
// both coders are ones the branch predictor cannot learn (they go either way
// every few symbols), and GCC turns plain selects on them into branches
// whatever hints it gets.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NVC_CMOV_ASM 1
#endif

// if_ge when a >= b, else if_lt.
NVC_INLINE uint32_t select_ge(uint32_t a, uint32_t b, uint32_t if_ge, uint32_t if_lt) {
#ifdef NVC_CMOV_ASM
    __asm__("cmpl %[b], %[a]\n\tcmovael %[t], %[r]" : [r] "+r"(if_lt) : [a] "r"(a), [b] "ri"(b), [t] "r"(if_ge) : "cc");
    return if_lt;
#else
    return a >= b ? if_ge : if_lt;
#endif
}

// if_lt when a < b, else if_ge.
NVC_INLINE uint32_t select_lt(uint32_t a, uint32_t b, uint32_t if_lt, uint32_t if_ge) {
#ifdef NVC_CMOV_ASM
    __asm__("cmpl %[b], %[a]\n\tcmovbl %[t], %[r]" : [r] "+r"(if_ge) : [a] "r"(a), [b] "ri"(b), [t] "r"(if_lt) : "cc");
    return if_ge;
#else
    return a < b ? if_lt : if_ge;
#endif
}

// if_ge when a >= b, else if_lt, for 64-bit values.
NVC_INLINE uint64_t select_ge64(uint32_t a, uint32_t b, uint64_t if_ge, uint64_t if_lt) {
#ifdef NVC_CMOV_ASM
    __asm__("cmpl %[b], %[a]\n\tcmovaeq %[t], %[r]" : [r] "+r"(if_lt) : [a] "r"(a), [b] "ri"(b), [t] "r"(if_ge) : "cc");
    return if_lt;
#else
    return a >= b ? if_ge : if_lt;
#endif
}

NVC_INLINE size_t select_lt64(uint32_t a, uint32_t b, size_t if_lt, size_t if_ge) {
#ifdef NVC_CMOV_ASM
    __asm__("cmpl %[b], %[a]\n\tcmovbq %[t], %[r]" : [r] "+r"(if_ge) : [a] "r"(a), [b] "ri"(b), [t] "r"(if_lt) : "cc");
    return if_ge;
#else
    return a < b ? if_lt : if_ge;
#endif
}

// The hot loops keep every piece of coder state in locals passed by value or
// by reference to always-inlined helpers, and copy table pointers out of the
// CdfTable first: with the state in registers, the byte stores (which may
// alias anything) force no reloads.  Rare paths are out of line and take and
// return their state by value for the same reason.

// ---------------------------------------------------------------------------
// Encoder side

// The output grows towards lower addresses inside a buffer that the Encoder
// keeps between frames: the stream so far is [p, buf.data() + buf.size()).
struct Out {
    uint8_t* lo;
    uint8_t* p;
};

NVC_NOINLINE Out grow(std::vector<uint8_t>& buf, Out o, size_t k) {
    const size_t used = static_cast<size_t>(buf.data() + buf.size() - o.p);
    std::vector<uint8_t> bigger(std::max(buf.size() * 2, used + k + 64));
    std::memcpy(bigger.data() + bigger.size() - used, o.p, used);
    buf.swap(bigger);
    return {buf.data(), buf.data() + buf.size() - used};
}

// The hot loops check for room once per block of symbols: two bytes each at
// most, plus what an escape may add (one byte per bypass chunk: at most
// kMaxBypassChunks chunks, their count in at most six more), as if every
// symbol escaped.  The escape path then never needs to grow the buffer.
constexpr size_t kBlock = 1024;
constexpr size_t kMaxEscapeBytes = kMaxBypassChunks + 6;
constexpr size_t kBlockBytes = (2 + kMaxEscapeBytes) * kBlock;

NVC_INLINE void reserve(std::vector<uint8_t>& buf, Out& o, size_t k) {
    if (static_cast<size_t>(o.p - o.lo) < k) o = grow(buf, o, k);
}

struct EncState {
    uint32_t x;
    Out out;
};

// Pushes a 2-bit bypass chunk.  x < 2^31, so one byte out always brings x
// below 2^29, the bound for a chunk; whether it is needed is selected.
NVC_INLINE void put_bits(uint32_t& x, uint8_t*& p, uint32_t bits) {
    *(p - 1) = static_cast<uint8_t>(x);
    p -= static_cast<unsigned>(x >= kBypassXMax);
    x = (select_ge(x, kBypassXMax, x >> 8, x) << kBypassBits) | bits;
}

// The coder's state after an escape, small enough to come back in registers.
struct PutEscaped {
    uint8_t* p;
    uint32_t x;
};

// Escape payload for value v (outside [0, max_value)), pushed so that the
// decoder pops the chunk count first and then the chunks, low bits first.
// The caller's block reservation covers its bytes.
NVC_NOINLINE PutEscaped put_escape(uint8_t* p, uint32_t x, int64_t v, int32_t max_value) {
    const uint64_t raw = v < 0 ? static_cast<uint64_t>(-2 * v - 1) : static_cast<uint64_t>(2 * (v - max_value));
    int n = 0;  // 2-bit chunks in raw: at most kMaxBypassChunks for int32 symbols and offsets within +-2^30
    while ((raw >> (kBypassBits * n)) != 0) ++n;
    for (int j = n - 1; j >= 0; --j) put_bits(x, p, static_cast<uint32_t>(raw >> (kBypassBits * j)) & 3u);
    put_bits(x, p, static_cast<uint32_t>(n % 3));
    for (int j = 0; j < n / 3; ++j) put_bits(x, p, 3u);
    return {p, x};
}

struct EncTable {
    const CdfTable::Row* rows;
    const CdfTable::EncBin* bins;
    explicit EncTable(const CdfTable& t) : rows(&t.row(0)), bins(t.bins()) {}
};

// Pushes one symbol; the caller made room for two bytes and an escape.
NVC_INLINE void encode_symbol(EncState& s, int32_t symbol, int32_t index, const EncTable& t) {
    const CdfTable::Row& row = t.rows[index];
    const int64_t v = int64_t{symbol} - row.offset;
    const CdfTable::EncBin* b;
    if (static_cast<uint64_t>(v) < static_cast<uint64_t>(row.max_value)) {
        b = t.bins + row.bin_base + static_cast<uint32_t>(v);
    } else {
        const PutEscaped e = put_escape(s.out.p, s.x, v, row.max_value);
        s.out.p = e.p;
        s.x = e.x;
        b = t.bins + row.bin_base + static_cast<uint32_t>(row.max_value);
    }
    // Renormalise by k bytes so that y = x >> 8k < x_max; x < 2^31 and
    // x_max >= 2^15, so k <= 2.  Whether k >= 1 goes either way every few
    // symbols, so it is selected, not branched on; k = 2 needs
    // x >= x_max << 8, i.e. freq < 2^8, rare enough for a branch.  Both bytes
    // are stored and the pointer moves by k.
    //
    // The quotient y / freq equals x / (freq << 8k), whose reciprocal is rcp
    // with a shift 8k larger (rcp stays within the Granlund-Montgomery bound
    // for x < 2^31).  So the product x * rcp starts at once, in parallel with
    // the renormalisation test, which only picks the shift.  The loop is
    // bound both by this state chain and by instruction count, hence the few
    // selects on k8 rather than on every derived value.
    const uint32_t x = s.x;
    const uint64_t prod = uint64_t{x} * b->rcp;
    uint32_t k8 = select_ge(x, b->x_max, 8, 0);
    if (NVC_UNLIKELY(x >> 8 >= b->x_max)) k8 = 16;
    s.out.p[-1] = static_cast<uint8_t>(x);
    s.out.p[-2] = static_cast<uint8_t>(x >> 8);
    s.out.p -= k8 >> 3;
    const uint32_t q = static_cast<uint32_t>(prod >> (b->shift + k8));
    s.x = (x >> k8) + b->start + q * b->cmpl;
}

EncState start_stream(std::vector<uint8_t>& buf, size_t symbols) {
    const size_t hint = symbols + symbols / 4 + 64;
    if (buf.size() < hint) buf.resize(hint);
    return {kStateLow, {buf.data(), buf.data() + buf.size()}};
}

std::vector<uint8_t> finish_stream(EncState s, std::vector<uint8_t>& buf) {
    reserve(buf, s.out, 4);
    for (int k = 3; k >= 0; --k) *--s.out.p = static_cast<uint8_t>(s.x >> (8 * k));
    return std::vector<uint8_t>(s.out.p, buf.data() + buf.size());
}

size_t lane_size(const std::vector<Encoder::Segment>& segments) {
    size_t total = 0;
    for (const auto& s : segments) total += s.n;
    return total;
}

// Copies a block of row numbers out of the caller's array, so that each is
// read once (another thread may write to the array while the GIL is
// released), and checks them: a bad one can only come from a change after
// push(), which checked them all.
NVC_INLINE void load_rows(const int32_t* idx, size_t n, uint32_t n_rows, uint32_t* rows) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
        rows[i] = static_cast<uint32_t>(idx[i]);
        bad |= static_cast<uint32_t>(rows[i] >= n_rows);
    }
    if (bad) throw InvalidArgument("an index array changed between encode() and flush()");
}

std::vector<uint8_t> encode_lane(const std::vector<Encoder::Segment>& segments, std::vector<uint8_t>& buf) {
    const size_t total = lane_size(segments);
    if (total == 0) return {};
    EncState s = start_stream(buf, total);
    uint32_t rows[kBlock];
    for (auto seg = segments.rbegin(); seg != segments.rend(); ++seg) {
        const EncTable t(*seg->table);
        const uint32_t n_rows = static_cast<uint32_t>(seg->table->rows());
        for (size_t end = seg->n; end > 0;) {
            const size_t begin = end > kBlock ? end - kBlock : 0;
            reserve(buf, s.out, kBlockBytes);
            load_rows(seg->indexes + begin, end - begin, n_rows, rows);
            const int32_t* sym = seg->symbols + begin;
            for (size_t i = end - begin; i-- > 0;) encode_symbol(s, sym[i], rows[i], t);
            end = begin;
        }
    }
    return finish_stream(s, buf);
}

// Both coders of two-coder mode in one loop: their states are independent, so
// the CPU overlaps the two dependency chains.  Segment k of either lane holds
// one half of the k-th queued array (possibly empty), and coder 1's half is
// never the shorter one (by one symbol at most).
void encode_lanes_interleaved(const std::vector<Encoder::Segment>& seg0, const std::vector<Encoder::Segment>& seg1,
                              std::vector<uint8_t> (&buf)[2], std::vector<uint8_t> (&streams)[2]) {
    const size_t total0 = lane_size(seg0);
    const size_t total1 = lane_size(seg1);
    EncState s0 = start_stream(buf[0], total0);
    EncState s1 = start_stream(buf[1], total1);
    uint32_t rows0[kBlock];
    uint32_t rows1[kBlock];
    for (size_t k = seg0.size(); k-- > 0;) {
        const Encoder::Segment& a = seg0[k];
        const Encoder::Segment& b = seg1[k];
        const EncTable t(*a.table);
        const uint32_t n_rows = static_cast<uint32_t>(a.table->rows());
        if (b.n > a.n) {
            reserve(buf[1], s1.out, kBlockBytes);
            load_rows(b.indexes + a.n, 1, n_rows, rows1);
            encode_symbol(s1, b.symbols[a.n], rows1[0], t);
        }
        for (size_t end = a.n; end > 0;) {
            const size_t begin = end > kBlock ? end - kBlock : 0;
            reserve(buf[0], s0.out, kBlockBytes);
            reserve(buf[1], s1.out, kBlockBytes);
            load_rows(a.indexes + begin, end - begin, n_rows, rows0);
            load_rows(b.indexes + begin, end - begin, n_rows, rows1);
            for (size_t i = end - begin; i-- > 0;) {
                encode_symbol(s0, a.symbols[begin + i], rows0[i], t);
                encode_symbol(s1, b.symbols[begin + i], rows1[i], t);
            }
            end = begin;
        }
    }
    if (total0) streams[0] = finish_stream(s0, buf[0]);
    if (total1) streams[1] = finish_stream(s1, buf[1]);
}

// A CPU this process may run on other than the one running the caller, or -1
// (also where the platform cannot say).
int other_cpu() {
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
    const int here = sched_getcpu();
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (c != here && CPU_ISSET(c, &allowed)) return c;
#endif
    return -1;
}

// Runs f(1) on a helper thread pinned to CPU `cpu` (from other_cpu(), so never
// the caller's) and f(0) here; rethrows the first failure.  Callers keep both
// halves on one thread where no other CPU is there: the threads would only
// take turns.
//
// The helper is pinned at once.  Left to itself, Linux queues
// a new thread on its creator's CPU and moves it only when the load balancer
// next runs: on a 2-vCPU VM (2026-12-02) the helper started 1.3-4 ms late
// and shared the caller's core meanwhile, which cost about 1.4 ms of a 1080p
// frame's 4.6 ms of coding; pinned, it starts within 0.2 ms.
template <typename F>
void run_two(int cpu, F&& f) {
    std::exception_ptr err1;
    std::thread helper([&] {
        try {
            f(1);
        } catch (...) {
            err1 = std::current_exception();
        }
    });
#if defined(__linux__)
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(helper.native_handle(), sizeof one, &one);  // a hint: failure only costs time
#else
    (void)cpu;
#endif
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

// ---------------------------------------------------------------------------
// Decoder side

// Zero bytes the Decoder keeps behind each stream, for the unchecked reads
// of update_and_refill() and get_bits().
constexpr size_t kPadding = kBlock + 64;

struct Src {
    const uint8_t* data;
    size_t size;
};

struct DecState {
    uint32_t x;
    size_t pos;
    bool overrun;  // a read went past the data (and yielded a zero)
    bool corrupt;  // a state, escape or row no conforming encoder produces
};

NVC_INLINE uint32_t read_byte(DecState& s, Src src) {
    if (s.pos < src.size) return src.data[s.pos++];
    s.overrun = true;
    return 0;
}

NVC_NOINLINE DecState refill_slow(DecState s, Src src) {
    while (s.x < kStateLow) s.x = (s.x << 8) | read_byte(s, src);
    return s;
}

// Sets the state to prod + bias (the symbol's update) and brings it back to
// >= 2^23.  x >= 2^7 here (it was >= 2^23 before the symbol and every
// frequency is >= 1).  Two bytes (x < 2^15) take a symbol of probability
// below 2^-8, rare enough for a branch; whether one byte is needed is a coin
// toss every few symbols, so it is selected rather than branched on.  The
// one-byte candidate is built from prod and bias directly, in parallel with
// their sum, which keeps a shift and an or off the state's chain.  The byte
// is read unchecked: the Decoder keeps zero padding behind the data, and
// settle() accounts for reads that went into it.
NVC_INLINE void update_and_refill(DecState& s, Src src, uint32_t prod, uint32_t bias) {
    const uint32_t x = prod + bias;
    if (NVC_UNLIKELY(x < (kStateLow >> 8))) {
        s.x = x;
        s = refill_slow(s, src);
        return;
    }
    // (prod << 8) + (bias << 8 | byte) == x << 8 | byte, as bias < 2^16.
    const uint32_t x1 = (prod << 8) + ((bias << 8) | src.data[s.pos]);
    s.x = select_lt(x, kStateLow, x1, x);
    s.pos = select_lt64(x, kStateLow, s.pos + 1, s.pos);
}

// The unchecked reads of update_and_refill() advance pos by at most one per
// symbol (decode_escape settles after its own), so after at most kBlock
// symbols pos lies at most kBlock bytes past the data, within the padding.
// Called after each block: a pos past the data means zeros were read from the
// padding, exactly what read_byte would have returned, and moving pos back
// keeps the next block inside the padding.
NVC_INLINE void settle(DecState& s, Src src) {
    if (s.pos > src.size) {
        s.overrun = true;
        s.pos = src.size;
    }
}

// Pops a 2-bit bypass chunk; x >= 2^21 after the shift, so one byte always
// refills.  Read unchecked, as in update_and_refill(); decode_escape settles
// after all its chunks (at most 24 bytes, which the padding covers on top of
// a block).
NVC_INLINE uint32_t get_bits(DecState& s, Src src) {
    const uint32_t v = s.x & 3u;
    const uint32_t x = s.x >> kBypassBits;
    const uint32_t x1 = (x << 8) | src.data[s.pos];
    s.x = select_lt(x, kStateLow, x1, x);
    s.pos = select_lt64(x, kStateLow, s.pos + 1, s.pos);
    return v;
}

struct Escaped {
    int64_t value;
    DecState s;
};

// Reads the bypass chunks after an escape bin; the chunk count is bounded so
// that garbage can neither loop for long nor overflow a shift.  Takes the
// state as scalars and reports only new flags: passing the whole DecState
// would make the hot loop keep its flags packed for the call.
NVC_NOINLINE Escaped decode_escape(uint32_t x, size_t pos, Src src, int32_t max_value) {
    DecState s{x, pos, false, false};
    uint32_t v = get_bits(s, src);
    int n = static_cast<int>(v);
    while (v == 3u && n <= kMaxBypassChunks) {
        v = get_bits(s, src);
        n += static_cast<int>(v);
    }
    if (n > kMaxBypassChunks) {
        settle(s, src);
        s.corrupt = true;
        return {max_value, s};
    }
    uint64_t raw = 0;
    for (int j = 0; j < n; ++j) raw |= uint64_t{get_bits(s, src)} << (kBypassBits * j);
    settle(s, src);
    const int64_t half = static_cast<int64_t>(raw >> 1);
    return {(raw & 1u) ? -half - 1 : half + max_value, s};
}

struct DecTable {
    const CdfTable::Row* rows;
    uint32_t n_rows;
    const uint32_t* cdf;
    const uint16_t* lut;
    const CdfTable::DecBin* lut_bins;
    explicit DecTable(const CdfTable& t)
        : rows(&t.row(0)),
          n_rows(static_cast<uint32_t>(t.rows())),
          cdf(t.cdf_data()),
          lut(t.lut()),
          lut_bins(t.lut_bins()) {}
};

// Pops one symbol coded with row `row` of t.  `shift` is the table's bucket
// shift; the callers pass the usual kLutShift as a constant where it applies.
//
// With kTryWindow, the row's window (its most probable adjacent bins) is tried
// first, with a branch, and the bin within it selected by compares: on
// typical latents (most symbols at small scales) nine symbols in ten fall in
// it, and while the branch predicts right the state's chain skips the table
// lookup (a dependent load) altogether.  A miss costs a misprediction on top
// of the lookup, so arrays whose symbols miss often are decoded without
// trying (see decode_run_with); both variants count the hits.
template <bool kTryWindow>
NVC_INLINE int32_t decode_symbol(DecState& s, Src src, const CdfTable::Row& row, const DecTable& t, int shift,
                                 size_t& hits) {
    const uint32_t cum = s.x & (kTotal - 1);
    const bool in_window = cum - row.win_lo < row.win_span;
    hits += in_window;
    uint32_t sym;
    uint32_t start;
    uint32_t freq;
    if (kTryWindow && NVC_LIKELY(in_window)) {
        uint64_t bin = row.win_bin[0];
        bin = select_ge64(cum, row.win_edge[0], row.win_bin[1], bin);
        bin = select_ge64(cum, row.win_edge[1], row.win_bin[2], bin);
        freq = static_cast<uint32_t>(bin);  // the low half: no masking on the chain
        start = static_cast<uint32_t>(bin >> 32) & 0xFFFFu;
        sym = static_cast<uint32_t>(bin >> 48);
    } else {
        const uint32_t bucket = row.lut_base + (cum >> shift);
        sym = t.lut[bucket];
        start = t.lut_bins[bucket].start;
        freq = t.lut_bins[bucket].freq;
        if (NVC_UNLIKELY(cum - start >= freq)) {
            const uint32_t* c = t.cdf + row.cdf_base;
            do {
                ++sym;
            } while (c[sym + 1] <= cum);
            start = c[sym];
            freq = c[sym + 1] - start;
        }
    }
    update_and_refill(s, src, freq * (s.x >> kPrecision), cum - start);
    if (static_cast<int32_t>(sym) != row.max_value) return static_cast<int32_t>(sym) + row.offset;
    const Escaped e = decode_escape(s.x, s.pos, src, row.max_value);
    s.x = e.s.x;
    s.pos = e.s.pos;
    s.overrun |= e.s.overrun;
    s.corrupt |= e.s.corrupt;
    const int64_t value = e.value + row.offset;
    if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
        s.corrupt = true;
        return value < 0 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
    }
    return static_cast<int32_t>(value);
}

// Row r of the table.  r is read from caller memory only once and bounded
// here: the caller checked the indexes, but another thread may still write to
// them, so a bad row is reported as corrupt and row 0 used.
NVC_INLINE const CdfTable::Row& row_at(const DecTable& t, uint32_t r, DecState& s) {
    if (NVC_UNLIKELY(r >= t.n_rows)) {
        s.corrupt = true;
        r = 0;
    }
    return t.rows[r];
}

// A lane's state as locals for the duration of one call, written back after.
class LaneScope {
public:
    explicit LaneScope(Decoder::Lane& lane)
        : lane_(lane), src{lane.data, lane.size}, s{lane.x, lane.pos, lane.overrun, lane.corrupt} {}
    ~LaneScope() {
        lane_.x = s.x;
        lane_.pos = s.pos;
        lane_.overrun = s.overrun;
        lane_.corrupt = s.corrupt;
    }
    LaneScope(const LaneScope&) = delete;
    LaneScope& operator=(const LaneScope&) = delete;

    // Reads the initial state the first time the lane has a symbol to decode.
    void start() {
        if (lane_.started) return;
        lane_.started = true;
        uint32_t x = 0;
        for (int k = 0; k < 4; ++k) x |= read_byte(s, src) << (8 * k);
        // A conforming encoder never leaves a state below the lower bound; the
        // decoding loops rely on that bound to terminate.
        if (x < kStateLow) {
            s.corrupt = true;
            x = kStateLow;
        }
        s.x = x;
    }

private:
    Decoder::Lane& lane_;

public:
    Src src;
    DecState s;
};

template <typename Shift>
void decode_run_with(Decoder::Lane& lane, const int32_t* idx, size_t n, const CdfTable& table, int32_t* out,
                     Shift shift) {
    if (n == 0) return;
    LaneScope l(lane);
    l.start();
    const DecTable t(table);
    DecState s = l.s;
    const Src src = l.src;
    // Whether to try the window is decided block by block from the hits of
    // the block before: worth it above about 60% (the misses' mispredictions
    // against the lookup's latency).
    bool try_window = true;
    for (size_t begin = 0; begin < n; begin += kBlock) {
        const size_t end = std::min(n, begin + kBlock);
        size_t hits = 0;
        if (try_window) {
            for (size_t i = begin; i < end; ++i)
                out[i] = decode_symbol<true>(s, src, row_at(t, static_cast<uint32_t>(idx[i]), s), t, shift, hits);
        } else {
            for (size_t i = begin; i < end; ++i)
                out[i] = decode_symbol<false>(s, src, row_at(t, static_cast<uint32_t>(idx[i]), s), t, shift, hits);
        }
        try_window = 3 * hits >= 2 * (end - begin);
        settle(s, src);
    }
    l.s = s;
}

// Two-coder mode for smaller arrays: both coders in one loop, their chains
// overlapping.  Coder 0 takes the first n / 2 symbols, coder 1 the rest.
void decode_interleaved(Decoder::Lane& lane0, Decoder::Lane& lane1, const int32_t* idx, size_t n,
                        const CdfTable& table, int32_t* out) {
    const size_t h = n / 2;
    LaneScope a(lane0);
    LaneScope b(lane1);
    if (h > 0) a.start();
    if (n > h) b.start();
    const DecTable t(table);
    const int shift = table.lut_shift();
    DecState sa = a.s;
    DecState sb = b.s;
    size_t hits = 0;  // unused: small arrays always try the window
    for (size_t begin = 0; begin < h; begin += kBlock) {
        const size_t end = std::min(h, begin + kBlock);
        for (size_t i = begin; i < end; ++i) {
            out[i] = decode_symbol<true>(sa, a.src, row_at(t, static_cast<uint32_t>(idx[i]), sa), t, shift, hits);
            out[h + i] =
                decode_symbol<true>(sb, b.src, row_at(t, static_cast<uint32_t>(idx[h + i]), sb), t, shift, hits);
        }
        settle(sa, a.src);
        settle(sb, b.src);
    }
    if (n - h > h) {
        out[n - 1] = decode_symbol<true>(sb, b.src, row_at(t, static_cast<uint32_t>(idx[n - 1]), sb), t, shift, hits);
        settle(sb, b.src);
    }
    a.s = sa;
    b.s = sb;
}

// The bucket shift as a constant for the usual tables, so that the compiler
// folds it into the hot loop.
struct UsualShift {
    constexpr operator int() const { return kLutShift; }
};

void decode_run(Decoder::Lane& lane, const int32_t* idx, size_t n, const CdfTable& table, int32_t* out) {
    if (table.lut_shift() == kLutShift)
        decode_run_with(lane, idx, n, table, out, UsualShift{});
    else
        decode_run_with(lane, idx, n, table, out, table.lut_shift());
}

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
    while (bits < kLutBits && (rows << (bits + 1)) <= kLutBudget) ++bits;
    lut_shift_ = kPrecision - bits;
    const size_t buckets = size_t{1} << bits;

    cdf_.reserve(n_cdf);
    bins_.reserve(n_cdf - rows);
    lut_.resize(rows * buckets);
    lut_bins_.resize(rows * buckets);
    for (size_t r = 0; r < rows; ++r) {
        const int32_t len = lengths[r];
        const int32_t* c = cdf + r * stride;
        Row& row = rows_[r];
        row.offset = offsets[r];
        row.max_value = len - 2;
        row.cdf_base = static_cast<uint32_t>(cdf_.size());
        row.bin_base = static_cast<uint32_t>(bins_.size());
        row.lut_base = static_cast<uint32_t>(r * buckets);
        // The window: the kWindow adjacent bins (all, for shorter rows) that
        // hold the most probability; the first such on ties.
        const int32_t bins = len - 1;
        const int32_t w = std::min<int32_t>(Row::kWindow, bins);
        int32_t lo = 0;
        for (int32_t k = 1; k + w <= bins; ++k)
            if (c[k + w] - c[k] > c[lo + w] - c[lo]) lo = k;
        row.win_lo = static_cast<uint32_t>(c[lo]);
        row.win_span = static_cast<uint32_t>(c[lo + w] - c[lo]);
        for (int32_t k = 0; k < Row::kWindow; ++k) {
            // Bins past the row's end repeat its last one and are never selected.
            const int32_t b = lo + std::min(k, w - 1);
            row.win_bin[k] = static_cast<uint64_t>(c[b + 1] - c[b]) | static_cast<uint64_t>(c[b]) << 32 |
                             static_cast<uint64_t>(b) << 48;
            if (k > 0) row.win_edge[k - 1] = k < w ? static_cast<uint32_t>(c[b]) : kTotal;
        }
        for (int32_t k = 0; k < len; ++k) cdf_.push_back(static_cast<uint32_t>(c[k]));
        for (int32_t k = 0; k + 1 < len; ++k) {
            const uint32_t freq = static_cast<uint32_t>(c[k + 1] - c[k]);
            const int l = ceil_log2(freq);
            EncBin b;
            b.x_max = freq << 15;
            b.shift = static_cast<uint32_t>(31 + l);
            // ceil(2^(31+l) / freq) < 2^32 for every freq in 1..65535.
            b.rcp = static_cast<uint32_t>(((uint64_t{1} << (31 + l)) + freq - 1) / freq);
            b.start = static_cast<uint16_t>(c[k]);
            b.cmpl = static_cast<uint16_t>(kTotal - freq);
            bins_.push_back(b);
        }
        uint16_t* bucket = lut_.data() + row.lut_base;
        int32_t s = 0;
        for (size_t j = 0; j < buckets; ++j) {
            const int32_t cum = static_cast<int32_t>(j << lut_shift_);
            while (c[s + 1] <= cum) ++s;
            bucket[j] = static_cast<uint16_t>(s);
            // start < 65536 and freq <= 65535 (every row has at least two bins).
            lut_bins_[row.lut_base + j] = {static_cast<uint16_t>(c[s + 1] - c[s]), static_cast<uint16_t>(c[s])};
        }
    }
}

size_t CdfTable::find_bad_index(const int32_t* idx, size_t n) const {
    // Blocks without an early exit vectorise; only a failing block is searched.
    constexpr size_t kBlock = 1024;
    const uint32_t rows = static_cast<uint32_t>(rows_.size());
    for (size_t b = 0; b < n; b += kBlock) {
        const size_t e = std::min(n, b + kBlock);
        uint32_t bad = 0;
        for (size_t i = b; i < e; ++i) bad |= static_cast<uint32_t>(static_cast<uint32_t>(idx[i]) >= rows);
        if (!bad) continue;
        for (size_t i = b; i < e; ++i)
            if (static_cast<uint32_t>(idx[i]) >= rows) return i;
    }
    return n;
}

// ---------------------------------------------------------------------------
// Encoder

void Encoder::push(const int32_t* symbols, const int32_t* indexes, size_t n,
                   std::shared_ptr<const CdfTable> table) {
    if (!table) throw InvalidArgument("no CDF table");
    const size_t bad = table->find_bad_index(indexes, n);
    if (bad != n)
        throw InvalidArgument("index " + std::to_string(indexes[bad]) + " at position " + std::to_string(bad) +
                              " is not a row of the table (" + std::to_string(table->rows()) + " rows)");
    if (two_ec_) {
        // Both lanes get a segment, even an empty one, so that segment k of
        // each lane belongs to the same array.
        const size_t h = n / 2;
        lanes_[0].push_back({symbols, indexes, h, table.get()});
        lanes_[1].push_back({symbols + h, indexes + h, n - h, table.get()});
    } else {
        lanes_[0].push_back({symbols, indexes, n, table.get()});
    }
    if (tables_.empty() || tables_.back() != table) tables_.push_back(std::move(table));
    pending_ += n;
}

std::vector<uint8_t> Encoder::flush() {
    // Whatever happens, the queue (and its borrowed arrays) is dropped.
    struct ResetOnExit {
        Encoder& e;
        ~ResetOnExit() { e.reset(); }
    } reset_on_exit{*this};
    std::vector<uint8_t> streams[2];
    if (!two_ec_) {
        streams[0] = encode_lane(lanes_[0], scratch_[0]);
    } else if (const int cpu = lane_size(lanes_[0]) >= kThreadMinSymbols ? other_cpu() : -1; cpu >= 0) {
        run_two(cpu, [&](int k) { streams[k] = encode_lane(lanes_[k], scratch_[k]); });
    } else {
        encode_lanes_interleaved(lanes_[0], lanes_[1], scratch_, streams);
    }
    if (!two_ec_) return std::move(streams[0]);
    return merge_streams(streams[0], streams[1]);
}

void Encoder::reset() {
    tables_.clear();
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

Decoder::Decoder(const uint8_t* data, size_t size, bool two_ec) : two_ec_(two_ec), size_(size) {
    // Both copies end in kPadding zero bytes (see refill and settle).
    forward_.reserve(size + kPadding);
    forward_.assign(data, data + size);
    forward_.resize(size + kPadding, 0);
    lanes_[0].data = forward_.data();
    lanes_[0].size = size;
    if (two_ec) {
        // Coder 1's bytes sit reversed at the end of the payload.
        backward_.reserve(size + kPadding);
        backward_.assign(std::make_reverse_iterator(data + size), std::make_reverse_iterator(data));
        backward_.resize(size + kPadding, 0);
        lanes_[1].data = backward_.data();
        lanes_[1].size = size;
    }
}

void Decoder::decode(const int32_t* idx, size_t n, const CdfTable& table, int32_t* out) {
    if (!two_ec_) {
        decode_run(lanes_[0], idx, n, table, out);
        return;
    }
    const size_t h = n / 2;
    if (const int cpu = h >= kThreadMinSymbols ? other_cpu() : -1; cpu >= 0) {
        run_two(cpu, [&](int k) {
            if (k == 0)
                decode_run(lanes_[0], idx, h, table, out);
            else
                decode_run(lanes_[1], idx + h, n - h, table, out + h);
        });
        return;
    }
    decode_interleaved(lanes_[0], lanes_[1], idx, n, table, out);
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
    const size_t size = size_;
    // Two streams that both hold data may share up to 8 tail bytes.
    if (started == 2) return used >= size && used - size <= 8;
    return used == size;
}

}  // namespace nvc::rans
