"""What every contract shares: the :class:`Contract` base class and :class:`ContractFailure`.

A contract is a class of ``test_*`` methods. pytest runs them when a plugin author subclasses the
contract in a test file; :meth:`Contract._check_all` runs them without pytest, for the
``check_*`` functions of each family's module.
"""

from __future__ import annotations

import inspect
import types
import typing
import unittest
from collections.abc import Callable, Mapping
from typing import Any

from sweepnp.errors import SweepnpError

__all__ = ["Contract", "ContractFailure"]


class ContractFailure(AssertionError):
    """A plugin broke its contract; the message says what was expected and what happened."""


class Contract:
    """What every contract shares: the plugin under test and its options.

    Set :attr:`factory` (what the plugin registers under its name) and, if it needs any,
    :attr:`options` (the keyword arguments a run file would pass) on the subclass.
    """

    #: The run-file key its options live under, for messages.
    key: str = ""
    #: The factory under test: usually the plugin's class.
    factory: Callable[..., Any]
    #: Options passed to the factory, as a run file would.
    options: Mapping[str, Any] = types.MappingProxyType({})

    @property
    def subject(self) -> str:
        """The factory and its options, as messages name them."""
        try:
            factory = self._factory()
        except ContractFailure:
            return type(self).__name__
        name = getattr(factory, "__qualname__", None) or repr(factory)
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def _factory(self) -> Callable[..., Any]:
        try:
            factory = self.factory
        except AttributeError:
            raise ContractFailure(
                f"{type(self).__name__} has no factory: set `factory = YourPlugin` on it"
            ) from None
        # A plain function set as a class attribute comes back bound to the contract.
        if inspect.ismethod(factory) and factory.__self__ is self:
            return factory.__func__
        return factory

    def _fail(self, message: str) -> typing.NoReturn:
        raise ContractFailure(f"{self.subject}: {message}")

    def _float_options(self) -> dict[str, float]:
        """The options hinted ``float`` with a number, given or default: what a stack of trials
        puts on its trial axis (:func:`sweepnp.plugins.float_options`), in signature order."""
        from sweepnp.plugins import float_options

        return float_options(self._factory(), self.options)

    @staticmethod
    def _skip(reason: str) -> typing.NoReturn:
        raise unittest.SkipTest(reason)

    def test_stackable_is_declared_as_a_bool(self) -> None:
        """``stackable`` (inherited ``False``, or the plugin's own) is a bool: whether its trials
        may train stacked."""
        stackable = getattr(self._factory(), "stackable", False)
        if not isinstance(stackable, bool):
            self._fail(f"stackable must be True or False, got {stackable!r}")

    def make(self, **overrides: Any) -> Any:
        """Call the factory with :attr:`options`, updated by ``overrides``."""
        return self._factory()(**{**self.options, **overrides})

    def test_options_validate_like_a_run_file(self) -> None:
        """The options pass the run-file validation: signature, type hints, no ``**kwargs``."""
        from sweepnp.plugins import validate_options

        try:
            validate_options(self._factory(), self.options, key=self.key)
        except SweepnpError as exc:
            self._fail(f"these options would be refused in a run file: {exc}")

    @classmethod
    def _check_all(cls, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
        """Run every check of the contract without pytest, each on a fresh instance.

        A check that does not apply (:class:`unittest.SkipTest`) is passed over.

        :raises ContractFailure: listing every check that failed, in alphabetical order.
        """
        failures, subject = [], ""
        for name in sorted(n for n in dir(cls) if n.startswith("test_")):
            instance = cls()
            instance.factory = factory  # an instance attribute: never bound as a method
            instance.options = dict(options)
            subject = instance.subject
            try:
                getattr(instance, name)()
            except unittest.SkipTest:
                continue
            except ContractFailure as exc:
                failures.append(f"{name}: {str(exc).removeprefix(subject + ': ')}")
            except Exception as exc:
                failures.append(f"{name}: raised {type(exc).__name__}: {exc}")
        if failures:
            raise ContractFailure(
                f"{subject} breaks the {cls.__name__} in {len(failures)} check(s):\n- "
                + "\n- ".join(failures)
            )
