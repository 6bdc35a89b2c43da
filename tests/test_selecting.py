from __future__ import annotations

import pytest

from airflow_provider_restsync.errors import PagingError
from airflow_provider_restsync.selecting import (
    AutoSelector,
    JsonPath,
    KeySelector,
    RootSelector,
    compile_selector,
    detect_records_path,
)

URL = "http://api.test/v1/items?api_key=***"


def select(selector: str | None, body: object) -> list[dict]:
    return compile_selector(selector).select(body, resource="items", url=URL)


@pytest.mark.parametrize("selector", ["data", "Bounces", "result.items", "$.data", "$.result.items"])
def test_plain_keys_compile_to_dict_lookups_not_jsonpath(selector: str) -> None:
    compiled = compile_selector(selector)
    assert isinstance(compiled, KeySelector)
    assert JsonPath(selector).is_plain


def test_plain_key_selects_the_list() -> None:
    assert select("Bounces", {"TotalCount": 2, "Bounces": [{"ID": 1}, {"ID": 2}]}) == [{"ID": 1}, {"ID": 2}]
    assert select("result.items", {"result": {"items": [{"id": 1}]}}) == [{"id": 1}]


def test_jsonpath_selectors() -> None:
    body = {"pages": [{"rows": [{"id": 1}]}], "data": [{"id": 1, "on": True}, {"id": 2, "on": False}]}
    assert select("pages[0].rows", body) == [{"id": 1}]
    assert select("$.data[*]", body) == body["data"]
    assert select("$.data[?(@.on == true)]", body) == [{"id": 1, "on": True}]
    assert select("$..rows[*]", body) == [{"id": 1}]


def test_wildcard_selector_on_an_empty_list_is_an_empty_page() -> None:
    assert select("$.data[*]", {"data": []}) == []


def test_empty_list_and_null_are_empty_pages() -> None:
    assert select("data", {"data": []}) == []
    assert select("data", {"data": None}) == []


def test_selector_matching_nothing_names_resource_url_and_keys() -> None:
    with pytest.raises(PagingError) as caught:
        select("items", {"data": [], "meta": {"total": 0}})
    message = str(caught.value)
    assert "'items'" in message and "matched nothing" in message
    assert URL in message
    assert "'data', 'meta'" in message


def test_wildcard_selector_whose_list_is_missing_is_an_error() -> None:
    with pytest.raises(PagingError, match="matched nothing"):
        select("$.data[*]", {"error": "nope"})


@pytest.mark.parametrize("value", [{"id": 1}, "text", 3])
def test_selector_matching_a_non_list_is_an_error(value: object) -> None:
    with pytest.raises(PagingError, match="not a list") as caught:
        select("data", {"data": value, "next": None})
    assert "'data', 'next'" in str(caught.value)


def test_list_of_scalars_is_an_error() -> None:
    with pytest.raises(PagingError, match="list of int"):
        select("data", {"data": [1, 2]})


def test_root_selector_takes_a_single_object_as_one_record() -> None:
    assert isinstance(compile_selector("$"), RootSelector)
    assert select("$", {"id": 7}) == [{"id": 7}]
    assert select("$", [{"id": 1}]) == [{"id": 1}]


def test_invalid_jsonpath_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid JSONPath"):
        compile_selector("$.data[?(")


def test_auto_detection_follows_dlt() -> None:
    assert select(None, [{"id": 1}]) == [{"id": 1}]
    assert select(None, {"meta": {"links": []}, "results": [{"id": 1}]}) == [{"id": 1}]
    assert select(None, {"response": {"entries": [{"id": 2}]}, "tags": []}) == [{"id": 2}]
    assert select(None, {"count": 1, "things": [{"id": 3}]}) == [{"id": 3}]
    assert select(None, {"id": 4, "name": "single"}) == [{"id": 4, "name": "single"}]


def test_auto_detection_prefers_the_least_nested_list() -> None:
    assert detect_records_path({"a": {"b": {"c": []}}, "x": {"y": []}}) == ("x", "y")
    assert detect_records_path({"page": {"data": []}, "errors": []}) == ("page", "data")
    assert detect_records_path({"n": 1}) is None


def test_auto_detection_keeps_the_path_it_found() -> None:
    selector = compile_selector(None)
    assert isinstance(selector, AutoSelector)
    assert selector.select({"data": [{"id": 1}]}, resource="r", url=URL) == [{"id": 1}]
    assert selector.expression == "data"
    assert selector.select({"data": [], "other": [{"x": 1}]}, resource="r", url=URL) == []


def test_auto_detection_rejects_a_scalar_body() -> None:
    with pytest.raises(PagingError, match="neither a JSON object nor a list"):
        select(None, "hello")


def test_jsonpath_first_and_find() -> None:
    body = {"meta": {"total": 5}, "items": [{"n": 1}, {"n": 2}]}
    assert JsonPath("meta.total").first(body) == 5
    assert JsonPath("meta.missing").first(body, "default") == "default"
    assert JsonPath("$.items[*].n").find(body) == [1, 2]
    assert JsonPath.from_keys(("meta", "total")).first(body) == 5
