"""vitspace.util.eta: the time left of a run of steps, from the steps done so far."""
from vitspace.util.eta import Eta, duration


def test_the_time_left_is_the_mean_step_times_the_steps_not_done():
    now = [0.0]
    eta = Eta(4, clock=lambda: now[0])
    assert (eta.next(), eta.left()) == ("[1/4]", "")  # nothing done yet: no estimate
    now[0] = 20.0
    assert (eta.next(), eta.left()) == ("[2/4]", ", about 60 s left")  # 20 s a step, this one and 2 more to go
    now[0] = 40.0
    assert (eta.next(), eta.left()) == ("[3/4]", ", about 40 s left")


def test_durations_in_words():
    assert [duration(s) for s in (0.2, 42, 89, 150, 3600 + 300)] == ["1 s", "42 s", "89 s", "2 min", "1 h 5 min"]
