from vitspace.util.table import DASH, FAILURE, PICK, RIGHT, cell_styles, cells, figure, markdown_table, styled


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


def test_cell_styles_right_align_the_figures_and_mark_the_pick_and_the_failures():
    rows = [["a", "1.00", "ok"], ["b", "2.00", "failed"]]
    assert cell_styles(rows) == [["", RIGHT, RIGHT], ["", RIGHT, RIGHT]]
    marked = cell_styles(rows, picked=[0], failed=[(1, 2)])
    assert marked[0] == [PICK, f"{RIGHT}; {PICK}", f"{RIGHT}; {PICK}"]
    assert marked[1] == ["", RIGHT, f"{RIGHT}; {FAILURE}"]
    table = styled(["name", "ms", "status"], rows, picked=[0], failed=[(1, 2)])
    assert table.data.values.tolist() == rows and PICK.split(";")[0] in table.to_html()
    assert styled(["name"], []).data.empty
