/* The observation's hot loop in C: the market history and the observation rows.
 *
 * This is THE implementation of MarketHistory (marketdata/history.py: its rings, their writes
 * on every book change and trade, and the window totals) and of the observation row
 * (observation/builder.py): both Python modules state what is computed and export it. Nothing is configured in C: the windows, ring capacities, unit
 * constants, fills and every feature's normalisation come from the Python modules through
 * configure_history() and configure_rows() at import, so the schema stays the one place
 * a feature is defined.
 *
 * Exactness: the values are bit-identical to plain Python arithmetic on the same ints
 * (training and live must see the same bits). Integer quantities are exact int64 here as
 * in Python; int / int is Python's true division (both operands below 2**53 are exactly
 * representable, so (double)a / (double)b is Python's result; larger ones go through
 * Python); int * float converts the int to double first, as Python does; log1p and sqrt
 * are the C library's, which Python's math module calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define MAX_WINDOWS 8
#define MAX_FEATURES 64
#define MAX_SUMMARY (4 + 2 * MAX_WINDOWS + 3 * MAX_WINDOWS + 3 + 3 * MAX_WINDOWS)
#define EXACT (1LL << 53)

/* --- configuration (set once from Python) --- */

static int history_ready, rows_ready;
static Py_ssize_t n_event_w, n_time_w, n_trade_w, summary_len;
static long long event_w[MAX_WINDOWS], time_w[MAX_WINDOWS], trade_w[MAX_WINDOWS];
static long long event_cap, trade_cap;

enum { NORM_IDENTITY, NORM_LINEAR, NORM_LOG1P, NORM_SLOG };
static int n_features;
static int norm_kind[MAX_FEATURES];
static double norm_k[MAX_FEATURES], norm_low[MAX_FEATURES], norm_high[MAX_FEATURES];
/* unit factors and fills: the builder's constants, by name */
static double PIPS, CENTS, MID2_CENTS, CONTRACTS, DOLLARS, SECONDS;
static double SPREAD_FILL, SINCE_UPDATE_FILL, SINCE_TRADE_FILL, CLOSE_FILL, DISTANCE_FILL;
static long long ONE_DOLLAR, HALF;

/* attribute names, interned once */
static PyObject *s_book, *s_history, *s_info, *s_now_ms, *s_position,
    *s_orders, *s_cash, *s_equity, *s_yes, *s_no, *s_best_yes, *s_best_no, *s_best_yes_bid_price,
    *s_best_no_bid_price, *s_yes_prices, *s_no_prices, *s_steps, *s_close_time_ms, *s_count, *s_cost_basis,
    *s_realized_pnl, *s_fees_paid, *s_side, *s_price, *s_remaining, *s_filled, *s_placed_ts_ms, *s_queue_ahead,
    *s_yes_str;

/* --- small helpers --- */

/* an int attribute as int64 (-1 with an exception set on failure; check PyErr_Occurred) */
static int get_ll(PyObject *obj, PyObject *name, long long *out) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* an int-or-None attribute: 1 = int (in *out), 0 = None, -1 = error */
static int get_opt_ll(PyObject *obj, PyObject *name, long long *out) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        return 0;
    }
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 1;
}

/* Python's int / int (true division) */
static double tdiv(long long a, long long b, int *err) {
    if (a < EXACT && a > -EXACT && b < EXACT && b > -EXACT) return (double)a / (double)b;
    PyObject *pa = PyLong_FromLongLong(a), *pb = PyLong_FromLongLong(b), *q = NULL;
    double r = 0.0;
    if (pa && pb) q = PyNumber_TrueDivide(pa, pb);
    if (q) r = PyFloat_AsDouble(q);
    else *err = 1;
    Py_XDECREF(pa);
    Py_XDECREF(pb);
    Py_XDECREF(q);
    return r;
}

/* bisect.bisect_right over a tuple of ints */
static Py_ssize_t bisect_right_ll(PyObject *tuple, long long x) {
    Py_ssize_t lo = 0, hi = PyTuple_GET_SIZE(tuple);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (x < PyLong_AsLongLong(PyTuple_GET_ITEM(tuple, mid))) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* --- MarketHistory: the rings, their writes and the window totals --- */

typedef struct {
    long long ts, mid2, sq2; /* time, 2 x mid after the change, cumulative squared mid2 changes */
} Change;

typedef struct {
    long long ts, flow, vol; /* time, cumulative signed taker size, cumulative size */
} Trade;

typedef struct {
    PyObject_HEAD
    long long n_changes, last_mid2, sq_now; /* last_mid2 is meaningful once has_mid */
    int has_mid;
    long long n_trades, last_trade_price;
    long long ptr[MAX_WINDOWS], tptr[MAX_WINDOWS]; /* per window: its first event (a cache) */
    Change *changes;                                 /* event_cap slots */
    Trade *trades;                                   /* trade_cap slots */
} History;

static PyTypeObject HistoryType;

static PyObject *history_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (!history_ready) return PyErr_Format(PyExc_RuntimeError, "configure_history() was not called");
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs)))
        return PyErr_Format(PyExc_TypeError, "MarketHistory() takes no arguments");
    History *h = (History *)type->tp_alloc(type, 0);
    if (h == NULL) return NULL;
    h->changes = PyMem_Calloc((size_t)event_cap, sizeof(Change));
    h->trades = PyMem_Calloc((size_t)trade_cap, sizeof(Trade));
    if (h->changes == NULL || h->trades == NULL) {
        Py_DECREF(h);
        return PyErr_NoMemory();
    }
    return (PyObject *)h;
}

static void history_dealloc(History *h) {
    PyMem_Free(h->changes);
    PyMem_Free(h->trades);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static int as_ll(PyObject *v, long long *out) {
    *out = PyLong_AsLongLong(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *history_on_book(History *h, PyObject *const *args, Py_ssize_t nargs) {
    long long ts, mid2, sq;
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "on_book(ts_ms, mid2) takes 2 arguments");
    if (as_ll(args[0], &ts) < 0) return NULL;
    if (args[1] == Py_None || (as_ll(args[1], &mid2) == 0 && h->has_mid && mid2 == h->last_mid2)) {
        if (PyErr_Occurred()) return NULL;
        if (!h->has_mid) Py_RETURN_NONE; /* no mid yet: the history starts at the first two-sided book */
        mid2 = h->last_mid2;
        sq = h->sq_now;
    } else if (PyErr_Occurred()) {
        return NULL;
    } else if (!h->has_mid) {
        h->has_mid = 1;
        h->last_mid2 = mid2;
        sq = 0;
    } else {
        long long d = mid2 - h->last_mid2;
        h->sq_now = sq = h->sq_now + d * d;
        h->last_mid2 = mid2;
    }
    Change *c = &h->changes[h->n_changes & (event_cap - 1)];
    c->ts = ts;
    c->mid2 = mid2;
    c->sq2 = sq;
    h->n_changes++;
    Py_RETURN_NONE;
}

static PyObject *history_on_trade(History *h, PyObject *const *args, Py_ssize_t nargs) {
    long long ts, count, price, signed_count = 0;
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "on_trade(ts_ms, taker_outcome, count, yes_price) takes 4 arguments");
    if (as_ll(args[0], &ts) < 0 || as_ll(args[2], &count) < 0 || as_ll(args[3], &price) < 0) return NULL;
    PyObject *taker = args[1];
    if (PyUnicode_Check(taker)) {
        if (PyUnicode_CompareWithASCIIString(taker, "yes") == 0) signed_count = count;
        else if (PyUnicode_CompareWithASCIIString(taker, "no") == 0) signed_count = -count;
    }
    long long i = h->n_trades, mask = trade_cap - 1;
    Trade *t = &h->trades[i & mask];
    if (i) {
        const Trade *prev = &h->trades[(i - 1) & mask];
        t->flow = prev->flow + signed_count;
        t->vol = prev->vol + count;
    } else {
        t->flow = signed_count;
        t->vol = count;
    }
    t->ts = ts;
    h->n_trades = i + 1;
    h->last_trade_price = price;
    Py_RETURN_NONE;
}

/* the first event number in [lo, n] whose time is after cut (times ascend over lo .. n - 1) */
#define FIRST_AFTER(ring, mask, cut, lo, n, out)                   \
    do {                                                           \
        long long a_ = (lo), b_ = (n);                             \
        while (a_ < b_) {                                          \
            long long m_ = a_ + (b_ - a_) / 2;                     \
            if ((ring)[m_ & (mask)].ts > (cut)) b_ = m_;           \
            else a_ = m_ + 1;                                      \
        }                                                          \
        (out) = a_;                                                \
    } while (0)

/* The window totals at now into out[summary_len] (see history.py for their meaning). */
static void summarize(History *h, long long now, long long *out) {
    Py_ssize_t o = 0;
    long long n = h->n_changes;
    if (n && now < h->changes[(n - 1) & (event_cap - 1)].ts) now = h->changes[(n - 1) & (event_cap - 1)].ts;
    if (h->n_trades && now < h->trades[(h->n_trades - 1) & (trade_cap - 1)].ts)
        now = h->trades[(h->n_trades - 1) & (trade_cap - 1)].ts;
    if (n == 0) {
        out[o++] = 0; out[o++] = 0; out[o++] = -1; out[o++] = -1;
        for (Py_ssize_t i = 0; i < 2 * n_event_w + 3 * n_time_w; i++) out[o++] = 0;
    } else {
        const Change *c = h->changes;
        long long mask = event_cap - 1, lo = n > event_cap ? n - event_cap : 0;
        const Change *top = &c[(n - 1) & mask];
        long long since = now - top->ts, span = now - c[lo & mask].ts;
        out[o++] = n; out[o++] = top->mid2; out[o++] = since > 0 ? since : 0; out[o++] = span > 0 ? span : 0;
        for (Py_ssize_t w = 0; w < n_event_w; w++) {
            long long b = n - 1 - event_w[w];
            const Change *start = &c[(b > lo ? b : lo) & mask];
            out[o++] = top->mid2 - start->mid2;
            out[o++] = top->sq2 - start->sq2;
        }
        for (Py_ssize_t w = 0; w < n_time_w; w++) {
            long long cut = now - time_w[w], p = h->ptr[w];
            if (p < lo) p = lo;
            if ((p < n && c[p & mask].ts <= cut) || (p > lo && c[(p - 1) & mask].ts > cut))
                FIRST_AFTER(c, mask, cut, lo, n, p);
            h->ptr[w] = p;
            if (p > lo || lo == 0) {
                const Change *start = &c[(p > lo ? p - 1 : lo) & mask];
                out[o++] = top->mid2 - start->mid2; out[o++] = top->sq2 - start->sq2; out[o++] = n - p;
            } else { /* the window reaches past the ring: the oldest change kept is its start */
                const Change *start = &c[lo & mask];
                out[o++] = top->mid2 - start->mid2; out[o++] = top->sq2 - start->sq2; out[o++] = n - lo - 1;
            }
        }
    }
    n = h->n_trades;
    if (n == 0) {
        out[o++] = 0; out[o++] = -1; out[o++] = -1;
        for (Py_ssize_t i = 0; i < 3 * n_trade_w; i++) out[o++] = 0;
        return;
    }
    const Trade *t = h->trades;
    long long mask = trade_cap - 1, lo = n > trade_cap ? n - trade_cap : 0;
    const Trade *top = &t[(n - 1) & mask];
    long long since = now - top->ts;
    out[o++] = n; out[o++] = since > 0 ? since : 0; out[o++] = h->last_trade_price;
    for (Py_ssize_t w = 0; w < n_trade_w; w++) {
        long long cut = now - trade_w[w], p = h->tptr[w];
        if (p < lo) p = lo;
        if ((p < n && t[p & mask].ts <= cut) || (p > lo && t[(p - 1) & mask].ts > cut))
            FIRST_AFTER(t, mask, cut, lo, n, p);
        h->tptr[w] = p;
        if (p > lo) {
            const Trade *start = &t[(p - 1) & mask];
            out[o++] = top->flow - start->flow; out[o++] = top->vol - start->vol; out[o++] = n - p;
        } else if (lo == 0) { /* every trade is inside the window */
            out[o++] = top->flow; out[o++] = top->vol; out[o++] = n;
        } else { /* the window reaches past the ring: the oldest trade kept is its start */
            const Trade *start = &t[lo & mask];
            out[o++] = top->flow - start->flow; out[o++] = top->vol - start->vol; out[o++] = n - lo - 1;
        }
    }
}

static PyObject *history_summary(History *h, PyObject *arg) {
    long long out[MAX_SUMMARY], now;
    if (as_ll(arg, &now) < 0) return NULL;
    summarize(h, now, out);
    PyObject *list = PyList_New(summary_len);
    if (list == NULL) return NULL;
    for (Py_ssize_t i = 0; i < summary_len; i++) {
        PyObject *v = PyLong_FromLongLong(out[i]);
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static PyObject *history_sizeof(History *h, PyObject *unused) {
    return PyLong_FromSsize_t((Py_ssize_t)(sizeof(History) + event_cap * sizeof(Change) + trade_cap * sizeof(Trade)));
}

static PyObject *history_repr(History *h) {
    if (!h->n_changes)
        return PyUnicode_FromFormat("MarketHistory(changes=0, trades=%lld, last_change_ms=None, mid2=None)",
                                    h->n_trades);
    return PyUnicode_FromFormat("MarketHistory(changes=%lld, trades=%lld, last_change_ms=%lld, mid2=%lld)",
                                h->n_changes, h->n_trades, h->changes[(h->n_changes - 1) & (event_cap - 1)].ts,
                                h->last_mid2);
}

static PyObject *get_n_changes(History *h, void *c) { return PyLong_FromLongLong(h->n_changes); }
static PyObject *get_n_trades(History *h, void *c) { return PyLong_FromLongLong(h->n_trades); }
static PyObject *get_last_mid2(History *h, void *c) {
    if (!h->has_mid) Py_RETURN_NONE;
    return PyLong_FromLongLong(h->last_mid2);
}
static PyObject *get_last_change_ms(History *h, void *c) {
    if (!h->n_changes) Py_RETURN_NONE;
    return PyLong_FromLongLong(h->changes[(h->n_changes - 1) & (event_cap - 1)].ts);
}
static PyObject *get_last_trade_ms(History *h, void *c) {
    if (!h->n_trades) Py_RETURN_NONE;
    return PyLong_FromLongLong(h->trades[(h->n_trades - 1) & (trade_cap - 1)].ts);
}
static PyObject *get_last_trade_price(History *h, void *c) {
    if (!h->n_trades) Py_RETURN_NONE;
    return PyLong_FromLongLong(h->last_trade_price);
}

static PyGetSetDef history_getset[] = {
    {"n_changes", (getter)get_n_changes, NULL, "book changes recorded since the start (not capped)", NULL},
    {"last_change_ms", (getter)get_last_change_ms, NULL, "exchange time of the last book change (None: none)", NULL},
    {"last_mid2", (getter)get_last_mid2, NULL, "2 x YES mid in pips after the last change (None: no mid yet)", NULL},
    {"n_trades", (getter)get_n_trades, NULL, "trades recorded since the start (not capped)", NULL},
    {"last_trade_ms", (getter)get_last_trade_ms, NULL, "exchange time of the last trade (None: none)", NULL},
    {"last_trade_price", (getter)get_last_trade_price, NULL, "YES price of the last trade in pips (None: none)", NULL},
    {NULL},
};

static PyMethodDef history_methods[] = {
    {"on_book", (PyCFunction)(void (*)(void))history_on_book, METH_FASTCALL,
     "on_book(ts_ms, mid2): record one book change at exchange time ts_ms; mid2 = YES bid + YES ask, None if "
     "one-sided (times never decrease)"},
    {"on_trade", (PyCFunction)(void (*)(void))history_on_trade, METH_FASTCALL,
     "on_trade(ts_ms, taker_outcome, count, yes_price): record one trade of count hundredths at yes_price pips; "
     "the taker bought taker_outcome"},
    {"summary", (PyCFunction)history_summary, METH_O,
     "summary(now_ms) -> list of ints: every window's raw totals at exchange time now_ms (SUMMARY_FIELDS).\n\n"
     "The result depends only on the recorded events and now_ms, never on earlier queries (the per-window "
     "cursors are only a cache). A now_ms before the last recorded event is taken as that event's time."},
    {"__sizeof__", (PyCFunction)history_sizeof, METH_NOARGS, "bytes held, rings included (fixed at creation)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HistoryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kalshi_actor.marketdata.history.MarketHistory",
    .tp_basicsize = sizeof(History),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Book changes and trades of one market (kalshi_actor.marketdata.history explains units and windows).",
    .tp_new = history_new,
    .tp_dealloc = (destructor)history_dealloc,
    .tp_repr = (reprfunc)history_repr,
    .tp_methods = history_methods,
    .tp_getset = history_getset,
};

/* --- the observation row --- */

/* A side's best bid: 1 = price in *out, 0 = none, -1 = error. Reads the book's cache, else its property. */
static int best_bid(PyObject *book, PyObject *cache_name, PyObject *property, long long *out) {
    PyObject *v = PyObject_GetAttr(book, cache_name);
    if (v == NULL) return -1;
    if (v == Py_None) { /* unknown: the property recomputes it */
        Py_DECREF(v);
        return get_opt_ll(book, property, out);
    }
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (*out == -1) return PyErr_Occurred() ? -1 : 0; /* -1 is the book's "empty side" */
    return 1;
}

/* a level's size (0 when nothing rests there); -1 with an exception set on error */
static long long level(PyObject *levels, PyObject *price) {
    PyObject *v = PyDict_GetItemWithError(levels, price);
    if (v == NULL) return PyErr_Occurred() ? -1 : 0;
    long long size = PyLong_AsLongLong(v);
    if (size < 0 && !PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "a book level of size %lld", size);
    return size < 0 ? -1 : size;
}

static long long level_ll(PyObject *levels, long long price) {
    PyObject *key = PyLong_FromLongLong(price);
    if (key == NULL) return -1;
    long long size = level(levels, key);
    Py_DECREF(key);
    return size;
}

typedef struct {
    int present;
    long long price, remaining, filled, placed, queue;
} Order;

static int read_order(PyObject *o, Order *out) {
    out->present = 1;
    if (get_ll(o, s_price, &out->price) || get_ll(o, s_remaining, &out->remaining) || get_ll(o, s_filled, &out->filled)
        || get_ll(o, s_placed_ts_ms, &out->placed) || get_ll(o, s_queue_ahead, &out->queue))
        return -1;
    return 0;
}

/* Our own resting `size` at `price` in one side's levels: sets *own (the size to take out there) and moves
   the best bid (*has_best, *best) when we are all of the best level. */
static int take_out_own(PyObject *levels, long long price, long long size, int *has_best, long long *best,
                        long long *own) {
    long long have = level_ll(levels, price);
    if (have < 0) return -1;
    *own = 0;
    if (have == 0) return 0;
    if (have > size) {
        *own = size;
        return 0;
    }
    *own = have;
    if (*has_best && price == *best) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        *has_best = 0;
        while (PyDict_Next(levels, &pos, &key, &value)) {
            long long p = PyLong_AsLongLong(key);
            if (p == -1 && PyErr_Occurred()) return -1;
            if (p != price && (!*has_best || p > *best)) {
                *has_best = 1;
                *best = p;
            }
        }
    }
    return 0;
}

/* Sizes on grid prices[lo..hi] (the best at hi) downward: 1 level, 3 levels, all; minus `own` at own_price. */
static int depth(PyObject *levels, PyObject *prices, Py_ssize_t lo, Py_ssize_t hi, long long own_price,
                 long long own, long long *l1, long long *l3, long long *l10) {
    *l1 = *l3 = *l10 = 0;
    for (Py_ssize_t j = hi; j >= lo; j--) {
        PyObject *key = PyTuple_GET_ITEM(prices, j);
        long long size = level(levels, key);
        if (size < 0) return -1;
        if (own && PyLong_AsLongLong(key) == own_price) size -= own;
        *l10 += size;
        if (j > hi - 3) *l3 += size;
        if (j == hi) *l1 = size;
    }
    return 0;
}

static void order_features(const Order *o, Py_ssize_t best, PyObject *grid, long long now, double *r, int *err) {
    if (!o->present) {
        r[0] = r[1] = r[2] = r[3] = r[4] = 0.0;
        return;
    }
    long long total = o->filled + o->remaining, age = now - o->placed;
    r[0] = best < 0 ? DISTANCE_FILL : (double)(best - bisect_right_ll(grid, o->price) + 1);
    r[1] = (double)o->remaining * CONTRACTS;
    r[2] = (double)(age > 0 ? age : 0) * SECONDS;
    r[3] = (double)o->queue * CONTRACTS;
    r[4] = total > 0 ? tdiv(o->filled, total, err) : 0.0;
}

static inline double ratio(long long a, long long b, int *err) {  /* (a - b) / (a + b), 0 when both are 0 */
    return (a + b) ? tdiv(a - b, a + b, err) : 0.0;
}

/* The raw feature values of one MarketInput, in schema order (units of the schema); see builder.py. */
static int raw_row(PyObject *m, int own_in_book, double *r) {
    PyObject *book = NULL, *history = NULL, *info = NULL, *position = NULL, *orders = NULL, *yes = NULL, *no = NULL,
             *yp = NULL, *np_ = NULL, *steps = NULL, *seq = NULL;
    long long now, cash, equity, s[MAX_SUMMARY], bid = 0, no_bid = 0, ask = 0, close = 0;
    int has_bid, has_no_bid, has_close, err = 0, rc = -1;
    Order yo = {0}, no_o = {0};
    long long yes_own = 0, no_own = 0;

    if (!(book = PyObject_GetAttr(m, s_book)) || !(history = PyObject_GetAttr(m, s_history))
        || !(info = PyObject_GetAttr(m, s_info)) || !(position = PyObject_GetAttr(m, s_position))
        || !(orders = PyObject_GetAttr(m, s_orders)))
        goto done;
    if (get_ll(m, s_now_ms, &now) || get_ll(m, s_cash, &cash) || get_ll(m, s_equity, &equity)) goto done;
    if (!(yes = PyObject_GetAttr(book, s_yes)) || !(no = PyObject_GetAttr(book, s_no))) goto done;
    if (!PyDict_Check(yes) || !PyDict_Check(no)) {
        PyErr_SetString(PyExc_TypeError, "Book.yes and Book.no must be dicts");
        goto done;
    }
    if ((has_bid = best_bid(book, s_best_yes, s_best_yes_bid_price, &bid)) < 0) goto done;
    if ((has_no_bid = best_bid(book, s_best_no, s_best_no_bid_price, &no_bid)) < 0) goto done;

    /* our orders: the first of each side counts */
    if (!(seq = PySequence_Fast(orders, "MarketInput.orders must be a sequence"))) goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *side = PyObject_GetAttr(o, s_side);
        if (side == NULL) goto done;
        int is_yes = PyUnicode_Check(side) && PyUnicode_Compare(side, s_yes_str) == 0;
        Py_DECREF(side);
        Order *slot = is_yes ? &yo : &no_o;
        if (!slot->present && read_order(o, slot) < 0) goto done;
    }
    if (own_in_book) { /* see the market as the others quote it, as the session books do */
        if (yo.present && yo.remaining > 0 && take_out_own(yes, yo.price, yo.remaining, &has_bid, &bid, &yes_own) < 0)
            goto done;
        if (no_o.present && no_o.remaining > 0
            && take_out_own(no, no_o.price, no_o.remaining, &has_no_bid, &no_bid, &no_own) < 0)
            goto done;
    }

    if (!Py_IS_TYPE(history, &HistoryType)) {
        PyErr_Format(PyExc_TypeError, "MarketInput.history must be a MarketHistory, not %.100s",
                     Py_TYPE(history)->tp_name);
        goto done;
    }
    summarize((History *)history, now, s);
    long long n_changes = s[0], mid2 = s[1], since_change = s[2], span = s[3];
    long long ret_ev5 = s[4], ret_ev20 = s[6], sq_ev20 = s[7], ret_ev100 = s[8];
    long long ret_1s = s[10], updates_1s = s[12], ret_10s = s[13], sq_10s = s[14], updates_10s = s[15];
    long long ret_60s = s[16], sq_60s = s[17], updates_60s = s[18];
    long long n_trades = s[19], since_trade = s[20], last_trade_price = s[21];
    long long flow_10s = s[22], volume_10s = s[23], trades_10s = s[24];
    long long flow_60s = s[25], volume_60s = s[26], trades_60s = s[27];

    /* the book: sizes at the 10 grid prices from each best bid down */
    if (!(yp = PyObject_GetAttr(info, s_yes_prices)) || !(np_ = PyObject_GetAttr(info, s_no_prices))
        || !(steps = PyObject_GetAttr(info, s_steps)))
        goto done;
    if (!PyTuple_CheckExact(yp) || !PyTuple_CheckExact(np_) || !PyTuple_CheckExact(steps)) {
        PyErr_SetString(PyExc_TypeError, "MarketInfo.yes_prices, no_prices and steps must be tuples");
        goto done;
    }
    Py_ssize_t ib = -1, inb = -1, ia = -1, i;
    long long b1 = 0, b3 = 0, b10 = 0, bid_size = 0, a1 = 0, a3 = 0, a10 = 0, ask_size = 0;
    if (has_bid) {
        ib = bisect_right_ll(yp, bid) - 1;
        if (depth(yes, yp, ib > 9 ? ib - 9 : 0, ib, yo.price, yes_own, &b1, &b3, &b10) < 0) goto done;
        if ((bid_size = level_ll(yes, bid)) < 0) goto done;
        if (yes_own && yo.price == bid) bid_size -= yes_own;
    }
    if (has_no_bid) {
        inb = bisect_right_ll(np_, no_bid) - 1;
        if (depth(no, np_, inb > 9 ? inb - 9 : 0, inb, no_o.price, no_own, &a1, &a3, &a10) < 0) goto done;
        if ((ask_size = level_ll(no, no_bid)) < 0) goto done;
        if (no_own && no_o.price == no_bid) ask_size -= no_own;
        ask = ONE_DOLLAR - no_bid;
        ia = bisect_right_ll(yp, ask) - 1;
    }
    i = has_bid ? ib : has_no_bid ? ia : bisect_right_ll(yp, HALF) - 1;
    if (PyTuple_GET_SIZE(steps) == 0) {
        PyErr_SetString(PyExc_ValueError, "MarketInfo.steps is empty");
        goto done;
    }
    long long step = PyLong_AsLongLong(PyTuple_GET_ITEM(steps, i > 0 ? i : 0));
    double tick = (double)step * CENTS, mid = 0.0, microprice, spread, two_sided;
    int has_mid;
    if (has_bid && has_no_bid) {
        mid = (double)(bid + ask) * 0.5;
        has_mid = 1;
        microprice = tdiv(bid * ask_size + ask * bid_size, bid_size + ask_size, &err) * PIPS;
        spread = ia > ib ? (double)(ia - ib) : 0.0;
        two_sided = 1.0;
    } else {
        has_mid = n_changes != 0;
        if (has_mid) mid = (double)mid2 * 0.5;
        microprice = has_mid ? mid * PIPS : 0.5;
        spread = SPREAD_FILL;
        two_sided = 0.0;
    }

    /* trades, market, portfolio */
    double trade_vs_mid = (n_trades && has_mid) ? ((double)last_trade_price - mid) * CENTS : 0.0;
    if ((has_close = get_opt_ll(info, s_close_time_ms, &close)) < 0) goto done;
    double to_close = !has_close ? CLOSE_FILL : close > now ? (double)(close - now) * SECONDS : 0.0;
    double count = 0.0, edge = 0.0, upnl = 0.0, exposure = 0.0, realized = 0.0;
    if (position != Py_None) {
        long long held, basis, pnl, fees;
        if (get_ll(position, s_count, &held) || get_ll(position, s_cost_basis, &basis)
            || get_ll(position, s_realized_pnl, &pnl) || get_ll(position, s_fees_paid, &fees))
            goto done;
        realized = (double)(pnl - fees) * DOLLARS;
        if (held) {
            count = (double)held * CONTRACTS;
            if (has_mid) {
                long long size = held > 0 ? held : -held;
                double mark = held > 0 ? mid : (double)ONE_DOLLAR - mid;
                double gain = mark - tdiv(basis, size, &err); /* micros / hundredths = pips per contract */
                edge = gain * CENTS;
                upnl = (double)size * gain * DOLLARS;
                if (equity > 0) exposure = (double)size * mark / (double)equity;
            }
        }
    }
    double cash_ratio = equity > 0 ? tdiv(cash, equity, &err) : 0.0;

    r[0] = has_bid ? (double)bid * PIPS : 0.0;
    r[1] = has_no_bid ? (double)ask * PIPS : 1.0;
    r[2] = two_sided;
    r[3] = microprice;
    r[4] = spread;
    r[5] = tick;
    r[6] = (double)bid_size * CONTRACTS;
    r[7] = (double)ask_size * CONTRACTS;
    r[8] = ratio(b1, a1, &err);
    r[9] = ratio(b3, a3, &err);
    r[10] = ratio(b10, a10, &err);
    r[11] = (double)b10 * CONTRACTS;
    r[12] = (double)a10 * CONTRACTS;
    r[13] = (double)ret_ev5 * MID2_CENTS;
    r[14] = (double)ret_ev20 * MID2_CENTS;
    r[15] = (double)ret_ev100 * MID2_CENTS;
    r[16] = (double)ret_1s * MID2_CENTS;
    r[17] = (double)ret_10s * MID2_CENTS;
    r[18] = (double)ret_60s * MID2_CENTS;
    r[19] = sqrt((double)sq_ev20) * MID2_CENTS;
    r[20] = sqrt((double)sq_10s) * MID2_CENTS;
    r[21] = sqrt((double)sq_60s) * MID2_CENTS;
    r[22] = (double)updates_1s;
    r[23] = (double)updates_10s;
    r[24] = (double)updates_60s;
    r[25] = since_change >= 0 ? (double)since_change * SECONDS : SINCE_UPDATE_FILL;
    r[26] = span >= 0 ? (double)span * SECONDS : 0.0;
    r[27] = volume_10s ? tdiv(flow_10s, volume_10s, &err) : 0.0;
    r[28] = volume_60s ? tdiv(flow_60s, volume_60s, &err) : 0.0;
    r[29] = (double)volume_10s * CONTRACTS;
    r[30] = (double)volume_60s * CONTRACTS;
    r[31] = (double)trades_10s;
    r[32] = (double)trades_60s;
    r[33] = since_trade >= 0 ? (double)since_trade * SECONDS : SINCE_TRADE_FILL;
    r[34] = trade_vs_mid;
    r[35] = to_close;
    r[36] = count;
    r[37] = edge;
    r[38] = upnl;
    r[39] = realized;
    r[40] = cash_ratio;
    r[41] = exposure;
    order_features(&yo, ib, yp, now, r + 42, &err);
    order_features(&no_o, inb, np_, now, r + 47, &err);
    rc = (err || PyErr_Occurred()) ? -1 : 0;
done:
    Py_XDECREF(book); Py_XDECREF(history); Py_XDECREF(info); Py_XDECREF(position); Py_XDECREF(orders);
    Py_XDECREF(yes); Py_XDECREF(no); Py_XDECREF(yp); Py_XDECREF(np_); Py_XDECREF(steps); Py_XDECREF(seq);
    return rc;
}

/* the schema's normalisation of raw value x of feature i (see observation/schema.py) */
static inline double normalise(int i, double x) {
    double v, k = norm_k[i];
    switch (norm_kind[i]) {
    case NORM_LINEAR:
        v = x * k;
        return v < norm_low[i] ? norm_low[i] : v > norm_high[i] ? norm_high[i] : v;
    case NORM_LOG1P:
        if (!(x > 0.0)) return 0.0;
        v = log1p(x) * k;
        return v < 1.0 ? v : 1.0;
    case NORM_SLOG:
        if (x >= 0.0) {
            v = log1p(x) * k;
            return v < 1.0 ? v : 1.0;
        }
        v = -log1p(-x) * k;
        return v > -1.0 ? v : -1.0;
    default:
        return x;
    }
}

static PyObject *py_build_rows(PyObject *module, PyObject *args) {
    PyObject *markets, *seq;
    int own_in_book;
    Py_buffer view;
    if (!rows_ready) return PyErr_Format(PyExc_RuntimeError, "configure_rows() was not called");
    if (!PyArg_ParseTuple(args, "Opw*:build_rows", &markets, &own_in_book, &view)) return NULL;
    if (!(seq = PySequence_Fast(markets, "markets must be a sequence"))) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (view.len < (Py_ssize_t)(n * n_features * sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "the buffer holds %zd bytes, %zd rows need %zd", view.len, n,
                     n * n_features * (Py_ssize_t)sizeof(float));
        goto fail;
    }
    float *out = (float *)view.buf;
    double r[MAX_FEATURES];
    for (Py_ssize_t j = 0; j < n; j++, out += n_features) {
        if (raw_row(PySequence_Fast_GET_ITEM(seq, j), own_in_book, r) < 0) goto fail;
        for (int i = 0; i < n_features; i++) out[i] = (float)normalise(i, r[i]);
    }
    Py_DECREF(seq);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    PyBuffer_Release(&view);
    return NULL;
}

/* --- configuration --- */

static int read_windows(PyObject *seq, long long *out, Py_ssize_t *n, const char *what) {
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL) return -1;
    *n = PySequence_Fast_GET_SIZE(fast);
    if (*n < 1 || *n > MAX_WINDOWS) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%s: between 1 and %d windows", what, MAX_WINDOWS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        out[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

static PyObject *py_configure_history(PyObject *module, PyObject *args) {
    PyObject *ev, *tw, *trw;
    if (history_ready) return PyErr_Format(PyExc_RuntimeError, "the history is configured once (rings exist)");
    if (!PyArg_ParseTuple(args, "OOOLL:configure_history", &ev, &tw, &trw, &event_cap, &trade_cap)) return NULL;
    if (read_windows(ev, event_w, &n_event_w, "event windows") || read_windows(tw, time_w, &n_time_w, "time windows")
        || read_windows(trw, trade_w, &n_trade_w, "trade windows"))
        return NULL;
    if (event_cap < 2 || (event_cap & (event_cap - 1)) || trade_cap < 2 || (trade_cap & (trade_cap - 1)))
        return PyErr_Format(PyExc_ValueError, "ring capacities must be powers of two");
    summary_len = 4 + 2 * n_event_w + 3 * n_time_w + 3 + 3 * n_trade_w;
    history_ready = 1;
    return PyLong_FromSsize_t(summary_len);
}

static PyObject *py_configure_rows(PyObject *module, PyObject *args) {
    PyObject *kinds, *ks, *lows, *highs;
    if (!history_ready) return PyErr_Format(PyExc_RuntimeError, "configure_history() first");
    if (!PyArg_ParseTuple(args, "OOOO(dddddd)(ddddd)(LL):configure_rows", &kinds, &ks, &lows, &highs, &PIPS, &CENTS,
                          &MID2_CENTS, &CONTRACTS, &DOLLARS, &SECONDS, &SPREAD_FILL, &SINCE_UPDATE_FILL,
                          &SINCE_TRADE_FILL, &CLOSE_FILL, &DISTANCE_FILL, &ONE_DOLLAR, &HALF))
        return NULL;
    Py_ssize_t n = PySequence_Size(kinds);
    if (n < 0) return NULL;
    if (n != 52 || PySequence_Size(ks) != n || PySequence_Size(lows) != n || PySequence_Size(highs) != n)
        return PyErr_Format(PyExc_ValueError, "the row has 52 features, each with a kind, k, low and high");
    if (summary_len != 28)
        return PyErr_Format(PyExc_ValueError, "the row reads a 28-value history summary, configured: %zd",
                            summary_len);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *kind = PySequence_GetItem(kinds, i), *k = PySequence_GetItem(ks, i),
                 *low = PySequence_GetItem(lows, i), *high = PySequence_GetItem(highs, i);
        if (kind && k && low && high) {
            norm_kind[i] = (int)PyLong_AsLong(kind);
            norm_k[i] = PyFloat_AsDouble(k);
            norm_low[i] = PyFloat_AsDouble(low);
            norm_high[i] = PyFloat_AsDouble(high);
        }
        Py_XDECREF(kind); Py_XDECREF(k); Py_XDECREF(low); Py_XDECREF(high);
        if (PyErr_Occurred()) return NULL;
        if (norm_kind[i] < NORM_IDENTITY || norm_kind[i] > NORM_SLOG)
            return PyErr_Format(PyExc_ValueError, "feature %zd: unknown normalisation kind %d", i, norm_kind[i]);
    }
    n_features = (int)n;
    rows_ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure_history", py_configure_history, METH_VARARGS,
     "configure_history(event_windows, time_windows_ms, trade_windows_ms, event_capacity, trade_capacity) "
     "-> summary length"},
    {"configure_rows", py_configure_rows, METH_VARARGS,
     "configure_rows(kinds, ks, lows, highs, units, fills, (one_dollar, half)): the schema's normalisations"},
    {"build_rows", py_build_rows, METH_VARARGS,
     "build_rows(markets, own_in_book, buffer): normalised float32 rows of MarketInputs into buffer"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_features",
                                        "The observation's hot loop (history windows, rows) in C.", -1, methods};

PyMODINIT_FUNC PyInit__features(void) {
#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) return NULL
    INTERN(s_book, "book"); INTERN(s_history, "history"); INTERN(s_info, "info"); INTERN(s_now_ms, "now_ms");
    INTERN(s_position, "position"); INTERN(s_orders, "orders"); INTERN(s_cash, "cash"); INTERN(s_equity, "equity");
    INTERN(s_yes, "yes"); INTERN(s_no, "no"); INTERN(s_best_yes, "_best_yes"); INTERN(s_best_no, "_best_no");
    INTERN(s_best_yes_bid_price, "best_yes_bid_price"); INTERN(s_best_no_bid_price, "best_no_bid_price");
    INTERN(s_yes_prices, "yes_prices"); INTERN(s_no_prices, "no_prices"); INTERN(s_steps, "steps");
    INTERN(s_close_time_ms, "close_time_ms"); INTERN(s_count, "count"); INTERN(s_cost_basis, "cost_basis");
    INTERN(s_realized_pnl, "realized_pnl"); INTERN(s_fees_paid, "fees_paid"); INTERN(s_side, "side");
    INTERN(s_price, "price"); INTERN(s_remaining, "remaining"); INTERN(s_filled, "filled");
    INTERN(s_placed_ts_ms, "placed_ts_ms"); INTERN(s_queue_ahead, "queue_ahead"); INTERN(s_yes_str, "yes");
#undef INTERN
    if (PyType_Ready(&HistoryType) < 0) return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    Py_INCREF(&HistoryType);
    if (PyModule_AddObject(module, "MarketHistory", (PyObject *)&HistoryType) < 0) {
        Py_DECREF(&HistoryType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
