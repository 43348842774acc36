"""The town's facts come from one file, and the engine keeps to them."""

from __future__ import annotations

import json

from ccviz_kernel import samples
from ccviz_kernel.engine import town
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event


def test_places_sit_inside_the_world():
    for pid, place in town.PLACES.items():
        assert 0 < place["x"] < town.WORLD_WIDTH, pid
        assert 0 < place["y"] < town.WORLD_HEIGHT, pid
    assert town.HOME in town.PLACES and town.WAITING_PLACE in town.PLACES


def test_every_rule_names_a_place():
    rules = town.default_rules()
    targets = {*rules["tools"].values(), *rules["prefixes"].values(), rules["default"]}
    assert targets <= set(town.PLACES)


def test_speeds_are_in_the_accepted_range():
    assert all(town.MIN_SPEED <= s <= town.MAX_SPEED for s in town.REPLAY_SPEEDS)
    assert list(town.REPLAY_SPEEDS) == sorted(town.REPLAY_SPEEDS)


def test_the_engine_emits_only_the_listed_effect_kinds():
    seen: set[str] = set()
    for name in samples.NAMES:
        games: dict[str, Game] = {}
        for line in samples.path(name, "hooks").read_text().splitlines():
            event = parse_event(json.loads(line))
            game = games.setdefault(event.session_id, Game(event.session_id))
            seen.update(e["kind"] for e in game.apply(event).effects)
    assert seen <= town.EFFECT_KINDS, seen - town.EFFECT_KINDS
    assert len(seen) >= 6  # the samples really exercise the effects


def test_snapshot_places_are_town_json():
    snap = Game("g").snapshot()
    assert {
        pid: {k: v for k, v in p.items() if k != "id"} for pid, p in snap["places"].items()
    } == (town.PLACES)
