"""Contracts of the k-ReLU convex hull (verifier.relaxations.krelu_hull) and of group choice.

* soundness: every lifted vertex and every sampled (x, relu(x)), x in P, satisfies the rows
  of the exact and of the fast hull;
* tightness: over random objectives the exact hull's LP maximum equals the maximum over
  the lifted vertices, and no hull is looser than the product of triangles intersected
  with P;
* k = 1: the exact hull is the triangle;
* groups: overlap bound, agreement with a brute-force greedy cover, ordering by area.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from verifier.relaxations import groups as groups_module
from verifier.relaxations import krelu_hull as kh
from verifier.relaxations.groups import select_groups, unstable_by_area
from verifier.relaxations.krelu_hull import (
    check_sound,
    exact_hull,
    fast_hull,
    input_vertices,
    lifted_vertices,
    normalise_rows,
    octahedral_directions,
    triangle_product_rows,
    triangle_rows,
)
from verifier.relaxations.krelu_hull_tools import (
    random_octahedral_bounds,
    time_hull_methods,
)

HULLS = {
    "exact": exact_hull,
    "fast_qhull": lambda C, d: fast_hull(C, d, method="qhull"),
}
FEW = settings(max_examples=12, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow])


def _lp_max(H: np.ndarray, h: np.ndarray, w: np.ndarray) -> float:
    res = linprog(-w, A_ub=H, b_ub=h, bounds=[(None, None)] * H.shape[1], method="highs")
    assert res.status == 0, res.message
    return -res.fun


def _same_rows(A: np.ndarray, a: np.ndarray, B: np.ndarray, b: np.ndarray,
               tol: float = 1e-7) -> bool:
    """Equal as sets of normalised rows [H | h] (up to tol)."""
    A, a = normalise_rows(A, a)
    B, b = normalise_rows(B, b)
    X, Y = np.hstack([A, a[:, None]]), np.hstack([B, b[:, None]])
    match_xy = all(np.min(np.max(np.abs(Y - x), axis=1)) <= tol for x in X)
    match_yx = all(np.min(np.max(np.abs(X - y), axis=1)) <= tol for y in Y)
    return match_xy and match_yx


def _samples_in_P(C: np.ndarray, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Points of P: rejection samples from the box plus random convex combinations of the
    vertices of the pieces (always in P, also when P is thin)."""
    k = C.shape[1]
    X = input_vertices(C, d)
    lo, hi = X.min(axis=0), X.max(axis=0)
    box = rng.uniform(lo, hi, size=(2000, k))
    inside = box[np.all(box @ C.T <= d, axis=1)]
    weights = rng.dirichlet(np.ones(len(X)), size=300)
    sparse = rng.dirichlet(np.ones(min(len(X), k + 1)), size=300)
    picks = np.array([rng.choice(len(X), size=sparse.shape[1], replace=False)
                      for _ in range(300)])
    combos = np.einsum("sj,sjk->sk", sparse, X[picks])
    return np.vstack([inside, weights @ X, combos, X])


# ---------------------------------------------------------------------------------------
# directions and vertices
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_octahedral_directions_shape_order_and_opposites(k):
    C = octahedral_directions(k)
    assert C.shape == (3 ** k - 1, k)
    assert len({tuple(r) for r in C}) == len(C)
    assert set(np.unique(C)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(C, -C[::-1])
    np.testing.assert_array_equal(octahedral_directions(k), C)   # fixed order


def test_lifted_vertices_of_a_box_k2():
    C = octahedral_directions(2)
    d = np.full(len(C), np.inf)
    for row, value in zip(([-1, 0], [1, 0], [0, -1], [0, 1]), (1.0, 2.0, 3.0, 4.0)):
        d[np.flatnonzero(np.all(C == row, axis=1))[0]] = value
    X = input_vertices(C, d)
    # 3 x 3 grid of {l, 0, u} per coordinate: vertices of the 4 orthant boxes
    expected = {(a, b) for a in (-1.0, 0.0, 2.0) for b in (-3.0, 0.0, 4.0)}
    assert {tuple(np.round(x, 12)) for x in X} == expected
    V = lifted_vertices(C, d)
    np.testing.assert_array_equal(V[:, 2:], np.maximum(V[:, :2], 0.0))


def test_empty_polytope_gives_infeasible_row():
    C = octahedral_directions(2)
    d = random_octahedral_bounds(2, np.random.default_rng(3))
    d[np.flatnonzero(np.all(C == [1, 1], axis=1))[0]] = -100.0   # x1 + x2 <= -100
    assert lifted_vertices(C, d).shape == (0, 4)
    for name, hull in HULLS.items():
        H, h = hull(C, d)
        np.testing.assert_array_equal(H, np.zeros((1, 4)), err_msg=name)
        np.testing.assert_array_equal(h, [-1.0], err_msg=name)


# ---------------------------------------------------------------------------------------
# k = 1 is the triangle
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("l,u", [(-1.0, 1.0), (-0.3, 2.5), (-7.0, 0.01), (-1e-3, 1e3)])
def test_k1_exact_hull_is_the_triangle(l, u):
    C = octahedral_directions(1)
    d = np.array([-l, u])
    T, t = triangle_rows(l, u)
    for name, hull in HULLS.items():
        H, h = hull(C, d)
        assert _same_rows(H, h, T, t, tol=1e-7 * (1 + abs(l) + abs(u))), name


def test_triangle_rows_inequalities():
    T, t = triangle_rows(-2.0, 3.0)
    xs = np.linspace(-2, 3, 101)
    pts = np.stack([xs, np.maximum(xs, 0)], axis=1)
    assert check_sound(T, t, pts, tol=1e-12)
    assert not check_sound(T, t, np.array([[0.0, -0.1]]))      # y >= 0
    assert not check_sound(T, t, np.array([[1.0, 0.5]]))       # y >= x
    assert not check_sound(T, t, np.array([[0.0, 1.3]]))       # y <= u (x - l) / (u - l)
    with pytest.raises(ValueError):
        triangle_rows(1.0, 0.0)


# ---------------------------------------------------------------------------------------
# soundness and tightness on random octahedra
# ---------------------------------------------------------------------------------------

@FEW
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.sampled_from([1, 2, 3]),
       n_points=st.integers(2, 16))
def test_hulls_contain_lifted_vertices_and_samples(seed, k, n_points):
    rng = np.random.default_rng(seed)
    C = octahedral_directions(k)
    d = random_octahedral_bounds(k, rng, n_points=n_points)
    V = lifted_vertices(C, d)
    X = _samples_in_P(C, d, rng)
    samples = np.hstack([X, np.maximum(X, 0.0)])
    for name, hull in HULLS.items():
        H, h = hull(C, d)
        assert H.shape[1] == 2 * k and h.shape == (len(H),), name
        np.testing.assert_allclose(np.max(np.abs(H), axis=1), 1.0, err_msg=name)
        assert check_sound(H, h, V, tol=0.0), name              # margin is built in
        assert check_sound(H, h, samples, tol=1e-9), name


@FEW
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.sampled_from([2, 3]),
       n_points=st.integers(1, 4))
def test_degenerate_polytopes_are_handled_soundly(seed, k, n_points):
    """Few points: P is a point, segment or thin polytope, possibly inside one orthant."""
    rng = np.random.default_rng(seed)
    C = octahedral_directions(k)
    d = random_octahedral_bounds(k, rng, n_points=n_points, require_unstable=False)
    V = lifted_vertices(C, d)
    assert len(V) >= 1
    X = _samples_in_P(C, d, rng)
    samples = np.hstack([X, np.maximum(X, 0.0)])
    for name, hull in HULLS.items():
        H, h = hull(C, d)
        assert check_sound(H, h, V, tol=0.0), name
        assert check_sound(H, h, samples, tol=1e-9), name


@FEW
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.sampled_from([2, 3]),
       n_points=st.integers(3, 16))
def test_hull_is_exact_and_no_looser_than_triangles(seed, k, n_points):
    rng = np.random.default_rng(seed)
    C = octahedral_directions(k)
    d = random_octahedral_bounds(k, rng, n_points=n_points)
    V = lifted_vertices(C, d)
    T, t = triangle_product_rows(C, d)
    hulls = {name: hull(C, d) for name, hull in HULLS.items()}
    for _ in range(8):
        w = rng.normal(size=2 * k)
        vertex_max = float(np.max(V @ w))
        tri_max = _lp_max(T, t, w)
        tol = 1e-7 * (1.0 + abs(vertex_max))
        for name, (H, h) in hulls.items():
            hull_max = _lp_max(H, h, w)
            assert hull_max <= tri_max + tol, name
            assert hull_max >= vertex_max - tol, name          # contains the vertices
            if name == "exact":
                assert hull_max <= vertex_max + tol, name      # and nothing more


def test_fast_hulls_contain_exact_hull_and_triangles_contain_vertices():
    rng = np.random.default_rng(11)
    for k in (2, 3):
        C = octahedral_directions(k)
        for _ in range(3):
            d = random_octahedral_bounds(k, rng)
            V = lifted_vertices(C, d)
            T, t = triangle_product_rows(C, d)
            assert check_sound(T, t, V, tol=1e-12)
            for name in ("fast_qhull",):
                H, h = HULLS[name](C, d)
                assert check_sound(H, h, V, tol=0.0), name


def test_qhull_route_falls_back_on_lower_dimensional_points():
    # P inside the orthant x >= 0: the lifted points lie in the plane y = x
    C = octahedral_directions(2)
    d = random_octahedral_bounds(2, np.random.default_rng(5), n_points=6,
                                 require_unstable=False)
    X = input_vertices(C, d)
    shift = -X.min(axis=0) + 0.5
    d = d + C @ shift                        # translate P by `shift`
    V = lifted_vertices(C, d)
    assert np.all(V[:, :2] > 0)
    for name, hull in HULLS.items():
        H, h = hull(C, d)
        assert check_sound(H, h, V, tol=0.0), name
        # the equality y = x must be present: both y - x <= 0 and x - y <= 0 hold tightly
        for w in (np.array([-1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, -1.0, 0.0])):
            assert _lp_max(H, h, w) <= 1e-7, name


def test_relax_to_contain_repairs_a_violated_row():
    V = np.array([[0.0, 0.0], [1.0, 1.0]])
    H = np.array([[1.0, 0.0]])
    h = kh.relax_to_contain(H, np.array([0.5]), V)
    assert h[0] > 1.0 and check_sound(H, h, V)


# ---------------------------------------------------------------------------------------
# timing (printed, not asserted; run with -s to see it)
# ---------------------------------------------------------------------------------------

def test_print_hull_times_per_group():
    for k in (2, 3):
        times = time_hull_methods(k, n_groups=20, seed=0)
        print(f"\nk={k}: " + ", ".join(f"{name} {1e3 * t:.2f} ms"
                                        for name, t in times.items()))


# ---------------------------------------------------------------------------------------
# groups
# ---------------------------------------------------------------------------------------

def _brute_force_cover(n, k, s):
    chosen = []
    for comb in itertools.combinations(range(n), k):
        if all(len(set(comb) & set(other)) <= s for other in chosen):
            chosen.append(comb)
    return chosen


@pytest.mark.parametrize("n,k,s", [(10, 3, 1), (30, 3, 1), (12, 3, 0), (15, 4, 2),
                                   (9, 4, 1), (8, 2, 0), (7, 3, 2)])
def test_sparse_cover_matches_brute_force_greedy(n, k, s):
    assert groups_module._sparse_cover(n, k, s) == _brute_force_cover(n, k, s)


def test_select_groups_contract():
    rng = np.random.default_rng(0)
    lower = rng.uniform(-1, 0.3, size=250)
    upper = lower + rng.uniform(0, 1.5, size=250)
    unstable = set(np.flatnonzero((lower < 0) & (upper > 0)))
    groups = select_groups(lower, upper, k=3, ns=40, s=1)
    ranked = list(unstable_by_area(lower, upper))
    chunk_of = {int(i): pos // 40 for pos, i in enumerate(ranked)}
    for g in groups:
        assert g == tuple(sorted(g)) and set(g) <= unstable
        assert len({chunk_of[i] for i in g}) == 1            # never crosses a chunk
    full = [g for g in groups if len(g) == 3]
    for a, b in itertools.combinations(full, 2):
        assert len(set(a) & set(b)) <= 1
    assert {i for g in groups for i in g} == unstable
    # the first group takes the three largest-area neurons
    assert groups[0] == tuple(sorted(ranked[:3]))
    areas = -lower[ranked] * upper[ranked]
    assert np.all(np.diff(areas) <= 0)


def test_select_groups_k1_cutoff_and_small_chunks():
    lower = np.array([-1.0, 0.5, -2.0, -0.1, -3.0, -1.0])
    upper = np.array([1.0, 2.0, 2.0, 0.1, -1.0, 0.5])
    assert select_groups(lower, upper, k=1) == [(2,), (0,), (5,), (3,)]
    assert select_groups(lower, upper, k=1, area_cutoff=0.5) == [(2,), (0,), (5,)]
    # 4 unstable neurons, chunk of 3: one full group, then the leftover alone
    assert select_groups(lower, upper, k=3, ns=3) == [(0, 2, 5), (3,)]
    with pytest.raises(ValueError):
        select_groups(lower, upper, k=3, ns=2)


# ---------------------------------------------------------------------------------------
# layering: relaxations import no solver
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("module", [kh, groups_module])
def test_relaxation_modules_import_no_solver(module):
    tree = ast.parse(Path(module.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    forbidden = {"highspy", "pulp", "solvers", "scipy.optimize", "verifier.encode"}
    assert not {n for n in names if n.split(".")[0] in {"highspy", "pulp", "solvers"}
                or n in forbidden}
