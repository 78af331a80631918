"""The live display of a technique: its pages count row by row and show the latest reading; a terminal gets a
progress bar, anything else plain lines."""

from __future__ import annotations

import io

from event_model import compose_run

from labctl.app.live import LiveDisplay


def test_a_technique_page_counts_every_row_and_shows_the_last():
    out = io.StringIO()
    live = LiveDisplay(out, min_interval=0.0)
    run = compose_run(metadata={"plan_name": "plate"})
    live("start", run.start_doc)
    keys = {"ewe": {"dtype": "number", "shape": [], "source": "sim", "units": "V"},
            "current": {"dtype": "number", "shape": [], "source": "sim", "units": "A"}}
    desc = run.compose_descriptor(name="technique", data_keys=keys, hints={"pstat": {"fields": ["ewe", "current"]}})
    live("descriptor", desc.descriptor_doc)
    for first in (0, 1000, 2000):
        rows = range(first, first + 1000)
        live("event_page", desc.compose_event_page(
            data={"ewe": [3.0 - 1e-4 * i for i in rows], "current": [-1e-3] * 1000},
            timestamps={k: [0.0] * 1000 for k in keys}, seq_num=[i + 1 for i in rows]))
    live("stop", run.compose_stop())
    text = out.getvalue()
    assert "[V]" in text and "[A]" in text
    assert "plate: success, 3000 events" in text          # every row counted
    last = [line for line in text.splitlines() if line.startswith("technique")][-1]
    assert last.split()[1:] == ["2.7001", "-0.001"]       # the last row of the last page
