# Reference values for internal/judge's table tests, computed with Debian
# bookworm's python3-scipy (scipy 1.10.1, numpy 1.24.2):
#
#   apt-get install python3-scipy
#   /usr/bin/python3 internal/judge/testdata/scipy_reference.py > internal/judge/testdata/scipy_reference.txt
#
# judge.MannWhitney(x=baseline, y=canary) reports U of the canary (pairs where
# the canary's value is larger, ties ½): scipy.stats.mannwhitneyu(canary,
# baseline).statistic. Its p-value is two-sided:
#   - n1·n2 <= 400: the exact permutation distribution of U given the
#     observed mid-ranks, p = 2·min(P(U <= u), P(U >= u)), at most 1. Without
#     ties this is mannwhitneyu(method='exact'); with ties it is
#     permutation_test over every split (n_resamples=inf), which does the same.
#   - larger: mannwhitneyu(method='asymptotic') (normal approximation, tie
#     and continuity corrections).
import math

import numpy as np
import scipy
from scipy import stats

print(f"# scipy {scipy.__version__}, numpy {np.__version__}")


def u_stat(canary, baseline, axis):
    return stats.mannwhitneyu(canary, baseline, axis=axis).statistic


def exact_conditional(baseline, canary):
    r = stats.permutation_test((canary, baseline), u_stat, permutation_type="independent",
                               n_resamples=np.inf, alternative="two-sided", vectorized=True)
    return r.statistic, r.pvalue


# 1. The smallest two-sided p for sizes (n1, n2): completely separated
#    samples (no ties), exact up to n1·n2 = 400, asymptotic beyond.
print("## min p: n1 n2 method p")
for n1, n2 in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 8), (3, 4), (4, 6), (2, 10), (3, 5),
               (10, 10), (20, 20), (8, 50), (21, 21), (30, 30), (5, 100)]:
    x = np.arange(n1, dtype=float)
    y = np.arange(n1, n1 + n2, dtype=float)
    method = "exact" if n1 * n2 <= 400 else "asymptotic"
    p = stats.mannwhitneyu(y, x, method=method).pvalue
    assert method == "asymptotic" or math.isclose(p, 2 / math.comb(n1 + n2, n1), rel_tol=1e-12)
    print(n1, n2, method, repr(p))

# 2. The smallest n a side whose smallest exact two-sided p is below alpha.
print("## min samples: alpha n p(n-1) p(n)")
for alpha in [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001, 0.0001]:
    def minp(n):
        return stats.mannwhitneyu(np.arange(n, 2 * n, dtype=float), np.arange(n, dtype=float), method="exact").pvalue
    n = 1
    while minp(n) >= alpha:
        n += 1
    print(alpha, n, repr(minp(n - 1)) if n > 1 else "-", repr(minp(n)))

# 3. Exact (conditional on ties) p-values of named samples.
cases = {
    "published": ([20, 11, 17, 12], [19, 22, 16, 29, 24]),  # scipy's docs: females, males
    "published-tied": ([20, 11, 17, 12], [19, 22, 16, 29, 20]),
    "all-tied": ([5, 5, 5], [5, 5, 5]),
    "all-zero": ([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),
    "tied-separated-4": ([0, 0, 0, 0], [1, 1, 1, 1]),
    "tied-separated-3": ([0, 0, 0], [1, 1, 1]),
    "zero-baseline": ([0, 0, 0, 0, 0, 0], [0, 0.02, 0.03, 0.05, 0.04, 0.02]),
    "zero-baseline-mostly": ([0, 0, 0, 0.01, 0, 0, 0], [0.02, 0.03, 0, 0.05, 0.04, 0.02, 0.03]),
    "50x-3": ([0.010, 0.012, 0.011], [0.5, 0.6, 0.55]),
    "50x-4": ([0.010, 0.012, 0.011, 0.009], [0.5, 0.6, 0.55, 0.45]),
    "50x-5": ([0.010, 0.012, 0.011, 0.009, 0.013], [0.5, 0.6, 0.55, 0.45, 0.65]),
    "overlap-8": ([1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]),
    "ties-unequal": ([1, 2, 2, 3], [2, 3, 3, 3, 4, 5]),
}
print("## exact: name U p [scipy exact-no-ties p where there are no ties]")
for name, (base, can) in cases.items():
    base, can = np.array(base, float), np.array(can, float)
    u, p = exact_conditional(base, can)
    ties = len(np.unique(np.concatenate([base, can]))) < len(base) + len(can)
    extra = "" if ties else " " + repr(stats.mannwhitneyu(can, base, method="exact").pvalue)
    print(name, repr(float(u)), repr(float(p)) + extra)

# 4. The normal approximation (n1·n2 > 400).
rng = np.random.default_rng(24)
big_base = np.round(rng.normal(0.100, 0.010, 25), 3)
big_can = np.round(rng.normal(0.108, 0.010, 25), 3)
print("## asymptotic: name U p")
print("# big_base =", ", ".join(repr(float(v)) for v in big_base))
print("# big_can =", ", ".join(repr(float(v)) for v in big_can))
r = stats.mannwhitneyu(big_can, big_base, method="asymptotic")
print("normal-25", repr(float(r.statistic)), repr(float(r.pvalue)))
x = np.arange(21, dtype=float)
y = np.arange(10, 31, dtype=float)  # 11 values in common: ties
r = stats.mannwhitneyu(y, x, method="asymptotic")
print("tied-21", repr(float(r.statistic)), repr(float(r.pvalue)))
