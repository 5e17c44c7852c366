from vitspace.util.table import DASH, cells, figure, markdown_table


def test_cells_follow_the_columns_and_shorten_only_floats():
    rows = [{"a": 1.23456789, "b": "x", "c": None, "d": True, "e": 3}]
    assert cells(rows, {"e": "E", "a": "A", "d": "D", "c": "C"}) == [[3, "1.235", True, None]]
    assert cells([], ["a"]) == []


def test_figures_at_fixed_decimals_line_up_and_a_dash_where_none_was_measured():
    rows = [{"ms": 1.5, "mb": 22.0, "d": 1.2345e-5, "name": "fp32.pt"}, {"ms": None, "mb": 5.5, "d": 0.5, "name": "x"}]
    assert cells(rows, ["name", "ms", "mb", "d"], {"ms": 2, "mb": 1, "d": None}) == [
        ["fp32.pt", "1.50", "22.0", "1.23e-05"], ["x", DASH, "5.5", "0.5"]]
    assert figure(3, 2) == "3.00" and figure("skipped", 2) == "skipped" and figure(True, 2) is True


def test_markdown_table_escapes_pipes():
    assert markdown_table(["a", "b"], [["x|y", None]]) == "| a | b |\n|---|---|\n| x\\|y |  |"
