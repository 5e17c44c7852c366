from vitspace.util.table import cells


def test_cells_follow_the_columns_and_shorten_only_floats():
    rows = [{"a": 1.23456789, "b": "x", "c": None, "d": True, "e": 3}]
    assert cells(rows, {"e": "E", "a": "A", "d": "D", "c": "C"}) == [[3, "1.235", True, None]]
    assert cells([], ["a"]) == []
