"""A search whose dataset is a table: the spec, the submit-time table check, and the one lifecycle run on a
small sparse conditional table (tests/unit/conditional_table.py), with its front and hypervolume."""

from __future__ import annotations

import math

import conditional_table
import pytest
from api_support import make_api
from pydantic import ValidationError

from worker.nas.evaluation.table_search import TableProblem, check_table, load_table
from worker.nas.objectives import Objective, Term, pareto_front
from worker.nas.runner import run_local_search
from worker.nas.sink import MemorySink
from worker.nas.spec import parse_spec


def table_spec(path, **over):
    spec = {
        "name": "table-test",
        "dataset": {
            "name": "table",
            "path": str(path),
            "arch_column": "id",
            "choice_columns": conditional_table.CHOICE_COLUMNS,
        },
        "space": {"type": "categorical"},
        "strategy": {"type": "predictor-ranking"},
        "objectives": [{"metric": "loss", "goal": "minimize"}, {"metric": "latency", "goal": "minimize"}],
        "budget": {"max_candidates": 12},
    }
    spec.update(over)
    return spec


@pytest.fixture
def table_file(tmp_path):
    return conditional_table.write(tmp_path / "small.csv")


def errors_of(spec):
    with pytest.raises(ValidationError) as info:
        parse_spec(spec)
    return str(info.value)


# --- the spec -----------------------------------------------------------------------------------------------
def test_table_spec_parses_with_any_column_as_objective(table_file):
    spec = parse_spec(table_spec(table_file, constraints={"columns": {"energy": 500}}))
    assert [o.metric for o in spec.objectives] == ["loss", "latency"]
    assert spec.constraints.columns == {"energy": 500}


def test_table_spec_needs_a_csv_path_and_an_arch_column(table_file):
    spec = table_spec(table_file)
    assert "path: dataset.name 'table' needs the path of a .csv file" in errors_of(
        {**spec, "dataset": {**spec["dataset"], "path": "x.npz"}}
    )
    no_arch = {k: v for k, v in spec["dataset"].items() if k != "arch_column"}
    assert "arch_column: dataset.name 'table' needs" in errors_of({**spec, "dataset": no_arch})


def test_table_objectives_must_say_their_goal(table_file):
    spec = table_spec(table_file, objectives=[{"metric": "loss"}])
    assert "objectives.0.goal: a table column has no natural direction" in errors_of(spec)


def test_table_fields_and_columns_are_refused_for_trained_datasets():
    assert "arch_column: only for dataset.name 'table'" in errors_of({"dataset": {"arch_column": "id"}})
    message = errors_of({"objectives": [{"metric": "perplexity", "goal": "minimize"}]})
    assert "objectives.0.metric: unknown 'perplexity'; allowed: val_accuracy" in message
    bounded = {"constraints": {"columns": {"a": 1}}}
    assert "constraints.columns: only for dataset.name 'table'" in errors_of(bounded)


def test_table_with_choice_columns_is_searched_in_the_categorical_space(table_file):
    message = errors_of(table_spec(table_file, space={"type": "nb201"}))
    assert "space.type: categorical for this table" in message
    own = {"type": "categorical", "choices": {"a": ["1"]}}
    assert "give no space options" in errors_of(table_spec(table_file, space=own))


# --- the table check (submit time and --local) ----------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s["dataset"].update(path="/nonexistent/t.csv"), "dataset.path"),
        (lambda s: s["dataset"].update(arch_column="name"), "dataset.arch_column"),
        (lambda s: s["dataset"].update(choice_columns=["width", "height"]), "dataset.choice_columns.1"),
        (lambda s: s["objectives"][1].update(metric="watts"), "objectives.1.metric"),
        (lambda s: s.update(constraints={"columns": {"watts": 3}}), "constraints.columns.watts"),
    ],
)
def test_check_table_names_the_field_at_fault(table_file, change, field):
    spec = table_spec(table_file)
    change(spec)
    with pytest.raises(TableProblem) as info:
        check_table(parse_spec(spec))
    assert info.value.field == field


def test_a_text_column_is_not_a_metric(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,width,depth,k_1,k_2,k_3,loss,latency,note\na,8,1,1,,,1.0,2.0,fast\n")
    spec = table_spec(path, objectives=[{"metric": "note", "goal": "maximize"}])
    with pytest.raises(TableProblem, match="not a numeric column 'note'"):
        check_table(parse_spec(spec))


# --- the search, through the lifecycle ------------------------------------------------------------------
def front_of(rows, terms):
    objective = Objective(terms)
    vectors = [objective.vector({k: float(r[k]) for k in ("loss", "latency")}) for r in rows]
    return {rows[i]["id"] for i in pareto_front(vectors)}


def test_table_search_looks_every_candidate_up_and_reports_its_front(table_file, tmp_path):
    spec = parse_spec(table_spec(table_file))
    sink = MemorySink()
    summary = run_local_search(spec, sink, artefact_dir=tmp_path / "art")
    rows = {r["id"]: r for r in conditional_table.rows()}
    table = load_table(spec.dataset)
    looked_up = []
    for cand in sink.candidates.values():
        assert cand["status"] == "done"
        row = table.arch[table.choices.index(cand["genome"]["choices"])]
        looked_up.append(rows[row])
        # the candidate's metrics are its row's figures
        assert cand["result"].metrics["loss"] == pytest.approx(float(rows[row]["loss"]))
        assert cand["result"].metrics["energy"] == pytest.approx(float(rows[row]["energy"]))
    assert len(looked_up) == 12 == len({r["id"] for r in looked_up})
    result = summary["table"]
    terms = [Term("loss", "minimize"), Term("latency", "minimize")]
    assert set(result["front"]) == front_of(looked_up, terms)
    assert 0 < result["hypervolume"]["ratio"] < 1
    goals = [{"column": "loss", "goal": "minimize"}, {"column": "latency", "goal": "minimize"}]
    assert result["objectives"] == goals
    assert summary["best"]["candidate_id"] in result["front_candidates"]


def test_table_search_over_every_row_finds_the_true_front(table_file, tmp_path):
    rows = conditional_table.rows()
    everything = {"max_candidates": len(rows)}
    spec = parse_spec(table_spec(table_file, strategy={"type": "random"}, budget=everything))
    summary = run_local_search(spec, MemorySink(), artefact_dir=tmp_path / "art")
    result = summary["table"]
    assert result["hypervolume"]["ratio"] == pytest.approx(1.0)
    terms = [Term("loss", "minimize"), Term("latency", "minimize")]
    assert set(result["front"]) == front_of(rows, terms)
    assert result["hypervolume"]["true_front_size"] == len(front_of(rows, terms))


def test_a_column_bound_makes_rows_over_it_infeasible(table_file, tmp_path):
    rows = conditional_table.rows()
    bound = sorted(float(r["energy"]) for r in rows)[len(rows) // 2]
    spec = parse_spec(
        table_spec(
            table_file,
            strategy={"type": "random"},
            budget={"max_candidates": len(rows)},
            constraints={"columns": {"energy": bound}},
        )
    )
    sink = MemorySink()
    summary = run_local_search(spec, sink, artefact_dir=tmp_path / "art")
    over = [c for c in sink.candidates.values() if c["result"].metrics["energy"] > bound]
    assert over and all(c["status"] == "infeasible" for c in over)
    assert all("energy" in c["result"].error for c in over)
    feasible = [r for r in rows if float(r["energy"]) <= bound]
    terms = [Term("loss", "minimize"), Term("latency", "minimize")]
    assert set(summary["table"]["front"]) == front_of(feasible, terms)
    assert summary["table"]["hypervolume"]["ratio"] == pytest.approx(1.0)
    assert math.isfinite(summary["table"]["hypervolume"]["true_front"])


# --- submit time, through the API ---------------------------------------------------------------------------
def test_api_confines_the_table_to_the_table_directory(tmp_path):
    api = make_api(tmp_path)
    inside = api.settings.table_dir
    inside.mkdir(parents=True, exist_ok=True)
    conditional_table.write(inside / "small.csv")
    outside = conditional_table.write(tmp_path / "outside.csv")
    r = api.client.post("/api/searches", json=table_spec(outside))
    assert r.status_code == 422
    err = r.json()["errors"][0] if "errors" in r.json() else r.json()["detail"][0]
    assert err["field"] == "dataset.path" and "outside this server's table directory" in err["message"]
    r = api.client.post("/api/searches", json=table_spec("small.csv"))
    assert r.status_code == 201, r.text
    stored = api.client.get(f"/api/searches/{r.json()['id']}").json()["spec"]["dataset"]["path"]
    assert stored == str((inside / "small.csv").resolve())


def test_api_names_a_missing_column(tmp_path):
    api = make_api(tmp_path)
    api.settings.table_dir.mkdir(parents=True, exist_ok=True)
    conditional_table.write(api.settings.table_dir / "small.csv")
    spec = table_spec("small.csv")
    spec["objectives"][1]["metric"] = "lat_ms_cpu"
    r = api.client.post("/api/searches", json=spec)
    assert r.status_code == 422
    body = r.json()
    err = (body.get("errors") or body.get("detail"))[0]
    assert err["field"] == "objectives.1.metric" and "no column 'lat_ms_cpu'" in err["message"]
