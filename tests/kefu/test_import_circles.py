"""No circle of imports between modules, beyond services and the Celery tasks that call them.

The layer contracts (``lint-imports``) keep imports between layers pointing down; inside a layer,
two modules that import each other (the billing router and its routing cache, the configs
selectors and services, as they once did) are one unit that reads as two. The one circle the
house style allows is a service that enqueues its task on commit and the task that calls the
service (its import sits in the task's body): Celery's own pattern. So a circle must stay inside
one package and go through that package's ``tasks`` module: without it, nothing is circular.
"""

from pathlib import Path

import grimp
from django.conf import settings

ROOTS = ("kefu", "accounts", "customer_service", "knowledge", "billing", "configs")


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*ROOTS, include_external_packages=False, cache_dir=None)
    modules = {m for m in graph.modules if ".migrations" not in m}
    return {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def only_through_tasks(component: list[str], edges: dict[str, set[str]]) -> bool:
    """Whether ``component`` lies in one package and is no longer a circle without its ``tasks`` module."""
    packages = {name.rsplit(".", 1)[0] for name in component}
    if len(packages) != 1:
        return False
    tasks = f"{packages.pop()}.tasks"
    if tasks not in component:
        return False
    rest = {name: edges[name] & set(component) - {tasks} for name in component if name != tasks}
    return circles(rest) == []


def test_the_circle_finder_finds_a_circle():
    edges = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "b.services": {"b.tasks"}, "b.tasks": {"b.services"},
             "c": {"a.x"}, "d.checks": {"d.services"}, "d.services": {"d.tasks"}, "d.tasks": {"d.checks", "d.services"},
             "e.services": {"e.tasks", "e.x"}, "e.x": {"e.services"}, "e.tasks": {"e.services"}}
    found = circles(edges)
    assert found == [["a.x", "a.y", "a.z"], ["b.services", "b.tasks"], ["d.checks", "d.services", "d.tasks"],
                     ["e.services", "e.tasks", "e.x"]]
    assert [only_through_tasks(c, edges) for c in found] == [False, True, True, False]


def test_no_module_imports_one_that_imports_it_back(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(settings.BASE_DIR)))
    edges = import_graph()
    found = [component for component in circles(edges) if not only_through_tasks(component, edges)]
    assert found == [], "modules that import each other: move what both need into a module below them"
