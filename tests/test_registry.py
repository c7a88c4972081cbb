"""Every loss holds all its facts in its class (as scikit-learn's test_common does for its
estimators): a loss added without one of them fails here, before a user meets the gap."""

from __future__ import annotations

import inspect

import pytest
from test_conformance import SETTINGS

from losscli import losses
from losscli.cli.render_catalogue import describe_text, example_command
from losscli.losses import classes
from losscli.losses.spec import build_loss

LOSSES = list(losses.LOSSES.items())


def test_the_registry_is_the_loss_classes():
    defined = [
        cls
        for _, cls in inspect.getmembers(losses, inspect.isclass)
        if issubclass(cls, losses.Loss) and cls not in (losses.Loss, losses.CustomLoss)
    ]
    assert sorted(c.__name__ for c in defined) == sorted(c.__name__ for _, c in LOSSES)


@pytest.mark.parametrize(("name", "cls"), LOSSES, ids=[name for name, _ in LOSSES])
def test_every_loss_has_every_fact(name, cls):
    # The function: documented, named as the registry says, exported with the class.
    assert cls.fn.__name__ == name
    assert cls.description() and cls.formula()
    assert getattr(losses, name) is cls.fn and getattr(losses, cls.__name__) is cls
    assert {name, cls.__name__} <= set(losses.__all__)
    # Its parameters: each with a default and a type; ranges only for parameters.
    for key, parameter in cls.parameters().items():
        assert parameter.default is not inspect.Parameter.empty, key
        assert parameter.annotation is not inspect.Parameter.empty, key
    assert set(cls.ranges) <= set(cls.parameters())
    # Its inputs, the kinds the checks for likely mistakes go by, and an example.
    assert cls.shapes
    assert cls.labels in classes.LABEL_KINDS and cls.predictions in classes.PREDICTION_KINDS
    assert cls.example.startswith("--")
    if cls.sparse_variant is not None:
        assert losses.LOSSES[cls.sparse_variant].labels == "sparse"
    # Its names resolve to it, and to nothing else.
    for identifier in classes.identifiers_of(name):
        assert losses.lookup(identifier) is cls
    assert len(cls.aliases) == len(set(cls.aliases))
    # What `describe` and `list` show, and a spec built from the example.
    assert cls.__name__ in describe_text(name)
    assert example_command(name).startswith("losscli eval ")
    build_loss(name)
    # And the conformance suite tests it against Keras.
    assert SETTINGS.get(name), f"{name} has no conformance settings"


def test_no_identifier_names_two_losses():
    owners: dict[str, str] = {}
    for name, cls in LOSSES:
        for identifier in (name, cls.__name__, *cls.aliases):
            assert owners.setdefault(identifier, name) == name, identifier
