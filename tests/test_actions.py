"""The one action table and its queue: what a flood costs, what runs, what every source can post."""

from __future__ import annotations

from _tiny_show import write_show

from installation.actions import ACTIONS, BY_ADDRESS, BY_NAME, KEYS, PER_FRAME, THROTTLE_SECONDS, ActionQueue
from installation.config import load_show
from installation.show import Show, ShowOptions
from installation.show_options import ShowStats


def test_the_table_names_each_action_and_address_once():
    names = [a.name for a in ACTIONS]
    addresses = [a.address for a in ACTIONS if a.address is not None]
    assert len(set(names)) == len(names) and len(set(addresses)) == len(addresses)
    assert set(BY_ADDRESS) == set(addresses)
    assert all(name in BY_NAME for name, _ in KEYS.values())  # every key posts a known action


def test_a_full_queue_drops_and_counts():
    stats = ShowStats()
    queue = ActionQueue(size=4, stats=stats)
    assert all(queue.post("next_keyframe") for _ in range(4))
    assert not queue.post("next_keyframe")
    assert queue.dropped == 1 and stats.actions_dropped == 1


def test_only_the_newest_of_a_last_only_kind_runs_and_order_is_kept():
    queue = ActionQueue()
    for args in [("a",), ("b",)]:
        queue.post("scene", *args)
    queue.post("next_keyframe")
    queue.post("record_stop")
    queue.post("record_stop")
    ran = queue.drain(t=0.0)
    assert ran == [("scene", ("b",)), ("next_keyframe", ()), ("record_stop", ())]


def test_a_throttled_action_waits_with_its_newest_arguments():
    queue = ActionQueue()
    queue.post("jump_to_seed", 1)
    assert queue.drain(t=0.0) == [("jump_to_seed", (1,))]
    queue.post("jump_to_seed", 2)
    queue.post("cue_next")  # throttled per kind: this one has not run yet
    assert queue.drain(t=0.5 * THROTTLE_SECONDS) == [("cue_next", ())]
    queue.post("jump_to_seed", 3)  # the waiting one (2) runs at its turn; 3 waits for the next
    assert queue.drain(t=THROTTLE_SECONDS) == [("jump_to_seed", (2,))]
    assert queue.drain(t=1.5 * THROTTLE_SECONDS) == []
    assert queue.drain(t=2 * THROTTLE_SECONDS) == [("jump_to_seed", (3,))]


def test_a_flood_costs_a_frame_at_most_per_frame_actions():
    queue = ActionQueue()
    for _ in range(3 * PER_FRAME):
        queue.post("next_keyframe")
    assert len(queue.drain(t=0.0)) == PER_FRAME


def test_every_action_has_a_handler_in_a_show(tmp_path):
    cfg = load_show(write_show(tmp_path))
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        assert set(show.handlers) == set(BY_NAME)
        before = show.latent.trajectory.position
        show.handle_key("space")  # a key and OSC run the same handler
        show.post("next_keyframe")
        show.run(frames=3)
        assert show.latent.trajectory.position != before
