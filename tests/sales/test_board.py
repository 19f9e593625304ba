"""The pipeline board shows the newest cards of each column and counts all of them, so a
pipeline of thousands of deals stays a page a person can read."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.sales import selectors, services
from tests.sales.conftest import open_deal

pytestmark = pytest.mark.django_db


def test_a_full_column_shows_the_newest_cards_and_counts_them_all(
    frozen_clock, manager, monkeypatch
):
    monkeypatch.setattr(selectors, "BOARD_COLUMN_LIMIT", 2)
    deals = []
    for n in range(3):
        deals.append(open_deal(manager, title=f"Сделка {n}"))
        frozen_clock.advance(dt.timedelta(minutes=1))
    moved = open_deal(manager, title="Другая стадия")
    services.move_deal(moved.pk, to_stage="intent", actor=manager)

    columns = {c.stage.code: c for c in selectors.board(manager, deals[0].pipeline)}

    first = columns["prospect"]
    assert first.count == 3 and first.more
    assert [d.title for d in first.deals] == ["Сделка 2", "Сделка 1"]
    assert columns["intent"].count == 1 and not columns["intent"].more
    assert [d.title for d in columns["intent"].deals] == ["Другая стадия"]
