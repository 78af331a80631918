"""labctl's event-page validator accepts and refuses exactly the pages event-model's schema does, and a
malformed page from a device is still refused by the RunEngine before storage records it."""

from __future__ import annotations

import copy
import uuid

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import event_model
import numpy as np
import pytest
from jsonschema import ValidationError
from ophyd.status import StatusBase

from labctl import page_validation
from labctl.session import run_engine

UPSTREAM = event_model._Validator(event_model.schemas[event_model.DocumentNames.event_page])


def _page(n=4, **overrides):
    page = {
        "descriptor": str(uuid.uuid4()),
        "uid": [str(uuid.uuid4()) for _ in range(n)],
        "seq_num": list(range(1, n + 1)),
        "time": [1.7e9 + i for i in range(n)],
        "data": {"ewe": [3.0 - 0.1 * i for i in range(n)], "cycle": list(range(n)), "state": ["ox"] * n},
        "timestamps": {k: [1.7e9] * n for k in ("ewe", "cycle", "state")},
        "filled": {},
    }
    page.update(overrides)
    return page


def _without(key):
    page = _page()
    del page[key]
    return page


def _replace(path, value):
    page = _page()
    target = page
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return page


VALID = {
    "lists": _page(),
    "no rows": _page(0),
    "numpy columns": _page(data={"ewe": np.linspace(3, 2, 4), "cycle": np.arange(4), "state": ["ox"] * 4},
                           timestamps={k: np.full(4, 1.7e9) for k in ("ewe", "cycle", "state")},
                           time=np.full(4, 1.7e9)),
    "tuple columns": _page(data={"ewe": (1.0, 2.0, 3.0, 4.0), "cycle": (0, 0, 1, 1), "state": ("a",) * 4}),
    "numpy scalars in time": _page(time=list(np.full(4, 1.7e9))),
    "integral floats as seq_num": _page(seq_num=[1.0, 2.0, 3.0, 4.0]),
    "filled columns": _page(filled={"image": [False, "datum-1", False, True]}),
    "no filled": _without("filled"),
    "nested data": _page(data={"spectrum": [[1, 2], [3, 4], [5, 6], [7, 8]]}),
}

INVALID = {
    **{f"no {key}": _without(key) for key in ("descriptor", "uid", "seq_num", "time", "data", "timestamps")},
    "an extra key": _page(extra=[1, 2, 3, 4]),
    "a numeric descriptor": _page(descriptor=7),
    "a data column that is a string": _replace(["data", "ewe"], "3.0,2.9,2.8,2.7"),
    "a data column that is a mapping": _replace(["data", "ewe"], {"0": 3.0}),
    "a data column that is a number": _replace(["data", "ewe"], 3.0),
    "data that is a list": _page(data=[1, 2, 3, 4]),
    "a timestamps column that is a string": _replace(["timestamps", "ewe"], "now"),
    "a string among the times": _page(time=[1.7e9, 1.7e9, 1.7e9, "later"]),
    "None among the times": _page(time=[None, 1.7e9, 1.7e9, 1.7e9]),
    "a bool among the times": _page(time=[1.7e9, True, 1.7e9, 1.7e9]),
    "a fractional seq_num": _page(seq_num=[1, 2, 2.5, 4]),
    "a bool seq_num": _page(seq_num=[1, True, 3, 4]),
    "a numeric uid": _page(uid=["a", "b", 3, "d"]),
    "times that are not an array": _page(time=1.7e9),
    "a filled entry that is a number": _page(filled={"image": [False, 3, False, False]}),
    "a page that is a list": [1, 2, 3],
}


@pytest.fixture(scope="module")
def fast():
    return page_validation.fast_event_page_validator()


@pytest.mark.parametrize("name", VALID)
def test_pages_event_model_accepts_are_accepted(fast, name):
    assert UPSTREAM.is_valid(VALID[name])
    fast.validate(VALID[name])


@pytest.mark.parametrize("name", INVALID)
def test_pages_event_model_refuses_are_refused(fast, name):
    assert not UPSTREAM.is_valid(INVALID[name])
    assert not fast.is_valid(INVALID[name])


def test_a_bad_element_is_named_by_its_position(fast):
    with pytest.raises(ValidationError) as err:
        fast.validate(_page(n=1000, time=[1.7e9] * 999 + ["later"]))
    assert list(err.value.absolute_path) == ["time", 999]
    assert "'later' is not of type 'number'" in str(err.value)


def test_a_schema_beyond_the_merge_is_left_to_event_model():
    schema = copy.deepcopy(event_model.schemas[event_model.DocumentNames.event_page])
    schema["allOf"].append({"anyOf": [{"required": ["filled"]}]})
    with pytest.raises(ValueError, match="not a local reference"):
        page_validation.flat_event_page_schema(schema)
    schema = copy.deepcopy(event_model.schemas[event_model.DocumentNames.event_page])
    schema["unevaluatedProperties"] = True
    with pytest.raises(ValueError, match="unevaluated"):
        page_validation.flat_event_page_schema(schema)
    schema = copy.deepcopy(event_model.schemas[event_model.DocumentNames.event_page])
    schema["patternProperties"] = {"^x_": {"type": "number"}}
    with pytest.raises(ValueError, match="patternProperties"):
        page_validation.flat_event_page_schema(schema)


def test_run_engine_installs_it_once():
    run_engine({})
    installed = event_model.schema_validators[event_model.DocumentNames.event_page]
    assert installed is not UPSTREAM and installed.is_valid(_page())
    run_engine({})
    assert event_model.schema_validators[event_model.DocumentNames.event_page] is installed


class _Flyer:
    """Hands out one good page, then one whose ``ewe`` column is a comma-separated string."""

    name, parent = "pstat", None

    def __init__(self):
        self.pages = [
            {"data": {"ewe": [3.0, 2.9]}, "timestamps": {"ewe": [1.0, 2.0]}, "time": [1.0, 2.0]},
            {"data": {"ewe": "3,2"}, "timestamps": {"ewe": [3.0, 4.0, 5.0]}, "time": [3.0, 4.0, 5.0]},
        ]

    def _done(self):
        st = StatusBase()
        st.set_finished()
        return st

    kickoff = complete = _done

    def describe_collect(self):
        return {"technique": {"ewe": {"dtype": "number", "shape": [], "source": "test", "units": "V"}}}

    def collect_pages(self):
        yield self.pages.pop(0)


def test_a_malformed_page_is_refused_and_what_came_before_is_kept(store, RE):
    store.subscribe(RE)
    flyer = _Flyer()

    @bpp.run_decorator(md={"plan_name": "technique"})
    def plan():
        yield from bps.kickoff(flyer, wait=True)
        yield from bps.collect(flyer)
        yield from bps.collect(flyer)

    with pytest.raises(ValidationError, match="'3,2' is not of type 'array'"):
        RE(plan())
    (summary,) = store.runs()
    run = store.run(summary.uid)
    assert run.stop["exit_status"] == "fail"
    assert list(run.table("technique")["ewe"]) == [3.0, 2.9]
