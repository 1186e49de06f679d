"""One map between the words staff use for a contact method and the stored code
(bot.core.domain.ContactMethod, bot.core.texts.CONTACT_METHOD_LABELS): every form, every
record that accepts one, and every record that prints one derive from it."""

from __future__ import annotations

import pytest

from bot.core import texts
from bot.core.domain import (
    ALERT_RESOLUTION_METHODS,
    EVALUATION_CONTACT_METHODS,
    LOGGED_CONTACT_METHODS,
    ONSITE_CONTACT_METHODS,
    ContactMethod,
    Platform,
)
from bot.services import alert_actions, records


def test_every_method_has_one_label_and_every_label_one_method() -> None:
    labels = texts.CONTACT_METHOD_LABELS
    assert set(labels) == set(ContactMethod)
    assert len(set(labels.values())) == len(labels)
    by_label = {label: method for method, label in labels.items()}
    for method in ContactMethod:
        assert by_label[labels[method]] is method


@pytest.mark.parametrize("method", list(ContactMethod))
def test_a_label_staff_type_is_stored_as_its_code_and_printed_back(
    method: ContactMethod,
) -> None:
    label = texts.CONTACT_METHOD_LABELS[method]
    if method in LOGGED_CONTACT_METHODS:
        assert records.contact_channel(label) == method.value
        assert records.contact_channel(method.value) == method.value
        assert records.method_label(records.contact_channel(label)) == label
    else:
        with pytest.raises(records.RecordsError):
            records.contact_channel(label)
    if method in EVALUATION_CONTACT_METHODS:
        assert records.evaluation_method(label) == method.value
        assert records.evaluation_method(method.value.upper()) == method.value
    else:
        with pytest.raises(records.RecordsError):
            records.evaluation_method(label)
    if method in ALERT_RESOLUTION_METHODS:
        assert alert_actions.METHODS[label] == method.value
    assert texts.CHANNEL_LABELS[method.value] == label  # exports, history, Slack footers


def test_the_accepted_words_and_their_order_are_the_forms() -> None:
    assert list(records.CONTACT_METHODS) == ["電話", "訪問", "通所", "メッセージ", "ビデオ"]
    assert list(records.EVALUATION_METHODS) == ["訪問", "通所", "電話", "ICT"]
    assert list(alert_actions.METHODS) == ["電話", "訪問", "メッセージ", "その他"]
    assert set(ONSITE_CONTACT_METHODS) <= set(EVALUATION_CONTACT_METHODS)
    with pytest.raises(records.RecordsError, match="use 電話/訪問/通所/メッセージ/ビデオ"):
        records.contact_channel("手紙")


def test_a_members_platform_is_printed_by_its_name() -> None:
    assert {p.value: texts.CHANNEL_LABELS[p.value] for p in Platform} == {
        "line": "LINE",
        "slack": "Slack",
        "console": "コンソール",
    }
