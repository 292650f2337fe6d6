"""Evaluator for parsed templates, a port of ``text/template/exec.go`` for the supported subset.

Follows Go's rules for pipelines (the previous command's value becomes the last argument), argument typing
(``evalArg``/``validateType``), ideal constants, variable scoping (a variable lives until the ``{{end}}`` of the
control structure that declared it), truth, ``with``/``range`` dot rebinding, and printing (``<no value>`` for nil).

Two limits Go does not have protect the controller: rendered output is capped at 1 MiB (the size limit of a Secret)
and evaluation at a fixed number of steps, so ``{{range 100000000000}}{{end}}`` fails instead of hanging a worker.
"""

from __future__ import annotations

from typing import Any, Final

from dbops.secrets.gotemplate.errors import Failure
from dbops.secrets.gotemplate.funcs import FUNCTIONS, FuncError, Function, ParamType
from dbops.secrets.gotemplate.gofmt import Unsupported, sprint
from dbops.secrets.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TextNode,
    VariableNode,
    WithNode,
)
from dbops.secrets.gotemplate.values import Kind, Struct, Uint8, is_true, kind_of, type_name

__all__ = ["MAX_OUTPUT", "MAX_STEPS", "execute"]

MAX_OUTPUT: Final = 1024 * 1024
MAX_STEPS: Final = 200_000


class _Missing:
    """Go's ``missingVal``: no value piped in from a previous command."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_PARAM_NAMES = {ParamType.STRING: "string", ParamType.ANY: "interface {}", ParamType.VALUE: "reflect.Value"}


def execute(tree: ListNode, data: Any) -> str:
    """Render a parsed template with ``data`` as dot and ``$``; raise :class:`Failure` on an execution error."""
    state = _State(data)
    state.walk(data, tree)
    return "".join(state.out)


def _is_hex_int(text: str) -> bool:
    return len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")


class _State:
    def __init__(self, data: Any) -> None:
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []
        self.size = 0
        self.steps = 0

    # -- bookkeeping -------------------------------------------------------------------------------------------------

    def step(self, node: Node) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Failure(node.pos, "template does too much work (evaluation step limit reached)")

    def write(self, node: Node, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise Failure(node.pos, "rendered output is larger than 1 MiB")
        self.out.append(text)

    @staticmethod
    def fail(node: Node, message: str) -> Failure:
        return Failure(node.pos, f"executing at <{node}>: {message}")

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def push(self, name: str, value: Any) -> None:
        self.vars.append((name, value))

    def set_var(self, node: Node, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(node, f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        name = self.vars[-n][0]
        self.vars[-n] = (name, value)

    def var_value(self, node: Node, name: str) -> Any:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        raise self.fail(node, f"undefined variable: {name}")

    # -- statements --------------------------------------------------------------------------------------------------

    def walk(self, dot: Any, node: Node) -> None:
        self.step(node)
        if isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, (IfNode, WithNode)):
            self.walk_if_or_with(isinstance(node, WithNode), dot, node.pipe, node.list, node.else_list)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TextNode):
            self.write(node, node.text)
        else:  # pragma: no cover - the parser produces no other statement nodes
            raise self.fail(node, "unknown node")

    def print_value(self, node: Node, value: Any) -> None:
        if value is None:
            self.write(node, "<no value>")
            return
        try:
            self.write(node, sprint([value]))
        except Unsupported as exc:
            raise self.fail(node, str(exc)) from None

    def walk_if_or_with(
        self, is_with: bool, dot: Any, pipe: PipeNode, lst: ListNode, else_list: ListNode | None
    ) -> None:
        mark = self.mark()
        try:
            value = self.eval_pipeline(dot, pipe)
            if is_true(value):
                self.walk(value if is_with else dot, lst)
            elif else_list is not None:
                self.walk(dot, else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, r: RangeNode) -> None:
        outer = self.mark()
        try:
            value = self.eval_pipeline(dot, r.pipe)
            mark = self.mark()
            decl = r.pipe.decl

            def one_iteration(index: Any, elem: Any) -> None:
                if decl:
                    if r.pipe.is_assign:
                        self.set_var(r, decl[0].idents[0], index if len(decl) > 1 else elem)
                    else:
                        self.set_top_var(1, elem)
                if len(decl) > 1:
                    if r.pipe.is_assign:
                        self.set_var(r, decl[1].idents[0], elem)
                    else:
                        self.set_top_var(2, index)
                try:
                    self.walk(elem, r.list)
                finally:
                    self.pop(mark)

            k = kind_of(value)
            ran = False
            if k in (Kind.INT, Kind.UINT):
                if len(decl) > 1:
                    raise self.fail(
                        r, f"can't use a value of type {type_name(value)} to iterate over more than one variable"
                    )
                for v in range(int(value)):
                    ran = True
                    one_iteration(None, Uint8(v) if k is Kind.UINT else v)
            elif k is Kind.SLICE:
                for i, elem in enumerate(value):
                    ran = True
                    one_iteration(i, elem)
            elif k is not Kind.INVALID:
                raise self.fail(r, f"range can't iterate over a value of type {type_name(value)}")
            if not ran and r.else_list is not None:
                self.walk(dot, r.else_list)
        finally:
            self.pop(outer)

    # -- expressions -------------------------------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        value: Any = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var, var.idents[0], value)
            else:
                self.push(var.idents[0], value)
        return value

    def not_a_function(self, args: list[Node] | None, final: Any) -> None:
        if (args is not None and len(args) > 1) or final is not MISSING:
            assert args is not None
            raise self.fail(args[0], f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        self.step(cmd)
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.fail(first, "nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self.fail(first, f"can't evaluate command {first}")  # pragma: no cover

    def ideal_constant(self, n: NumberNode) -> Any:
        text = n.text
        if n.is_float and not _is_hex_int(text) and not text.startswith("'") and any(c in text for c in ".eEpP"):
            return n.float_value
        if n.is_int:
            return n.int_value
        if n.is_uint:
            raise self.fail(n, f"{text} overflows int")
        return None  # pragma: no cover

    def eval_field_chain(
        self, dot: Any, receiver: Any, node: Node, idents: list[str], args: list[Node] | None, final: Any
    ) -> Any:
        for ident in idents[:-1]:
            receiver = self.eval_field(ident, node, None, MISSING, receiver)
        return self.eval_field(idents[-1], node, args, final, receiver)

    def eval_field(self, name: str, node: Node, args: list[Node] | None, final: Any, receiver: Any) -> Any:
        if receiver is None:
            return None
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if isinstance(receiver, Struct) and name in receiver.fields:
            if has_args:
                raise self.fail(node, f"{name} has arguments but cannot be invoked as function")
            return receiver.fields[name]
        raise self.fail(node, f"can't evaluate field {name} in type {type_name(receiver)}")

    def eval_variable_node(self, dot: Any, var: VariableNode, args: list[Node] | None, final: Any) -> Any:
        value = self.var_value(var, var.idents[0])
        if len(var.idents) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.idents[1:], args, final)

    def eval_chain_node(self, dot: Any, chain: ChainNode, args: list[Node] | None, final: Any) -> Any:
        if isinstance(chain.node, NilNode):
            raise self.fail(chain, f"indirection through explicit nil in {chain}")
        if isinstance(chain.node, PipeNode):
            receiver = self.eval_pipeline(dot, chain.node)
        elif isinstance(chain.node, IdentifierNode):
            receiver = self.eval_function(dot, chain.node, chain.node, None, MISSING)
        else:  # pragma: no cover - the parser builds chains only on pipelines and identifiers
            raise self.fail(chain, f"can't evaluate {chain}")
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_function(self, dot: Any, node: IdentifierNode, cmd: Node, args: list[Node] | None, final: Any) -> Any:
        fn = FUNCTIONS.get(node.name)
        if fn is None:  # pragma: no cover - the parser rejects unknown functions
            raise self.fail(node, f"{node.name!r} is not a defined function")
        return self.eval_call(dot, fn, cmd, node.name, args, final)

    def eval_call(self, dot: Any, fn: Function, node: Node, name: str, args: list[Node] | None, final: Any) -> Any:
        call_args = args[1:] if args is not None else []
        num_in = len(call_args) + (0 if final is MISSING else 1)
        if fn.variadic is not None:
            num_fixed = len(fn.params)
            if num_in < num_fixed:
                raise self.fail(
                    node, f"wrong number of args for {name}: want at least {num_fixed} got {len(call_args)}"
                )
        else:
            num_fixed = len(call_args)
            if num_in != len(fn.params):
                raise self.fail(node, f"wrong number of args for {name}: want {len(fn.params)} got {num_in}")

        if fn.builtin and name in ("and", "or"):
            value: Any = None
            for arg in call_args:
                value = self.eval_arg(dot, ParamType.VALUE, arg)
                if is_true(value) == (name == "or"):
                    return value
            if final is not MISSING:
                value = self.validate(node, final, ParamType.VALUE)
            return value

        argv: list[Any] = []
        i = 0
        while i < num_fixed and i < len(call_args):
            argv.append(self.eval_arg(dot, fn.params[i], call_args[i]))
            i += 1
        if fn.variadic is not None:
            while i < len(call_args):
                argv.append(self.eval_arg(dot, fn.variadic, call_args[i]))
                i += 1
        if final is not MISSING:
            if fn.variadic is not None:
                ptype = fn.params[num_in - 1] if num_in - 1 < num_fixed else fn.variadic
            else:
                ptype = fn.params[-1]
            argv.append(self.validate(node, final, ptype))
        try:
            return fn.impl(*argv)
        except FuncError as exc:
            raise self.fail(node, f"error calling {name}: {exc}") from None
        except Unsupported as exc:
            raise self.fail(node, f"error calling {name}: {exc}") from None

    def validate(self, node: Node, value: Any, ptype: ParamType) -> Any:
        if value is None:
            if ptype is not ParamType.STRING:  # interface{} and reflect.Value can both be nil
                return None
            raise self.fail(node, f"invalid value; expected {_PARAM_NAMES[ptype]}")
        if ptype is ParamType.STRING and not isinstance(value, str):
            raise self.fail(node, f"wrong type for value; expected string; got {type_name(value)}")
        return value

    def eval_arg(self, dot: Any, ptype: ParamType, node: Node) -> Any:
        self.step(node)
        if isinstance(node, DotNode):
            return self.validate(node, dot, ptype)
        if isinstance(node, NilNode):
            if ptype is not ParamType.STRING:
                return None
            raise self.fail(node, f"cannot assign nil to {_PARAM_NAMES[ptype]}")
        if isinstance(node, FieldNode):
            return self.validate(node, self.eval_field_chain(dot, dot, node, node.idents, [node], MISSING), ptype)
        if isinstance(node, VariableNode):
            return self.validate(node, self.eval_variable_node(dot, node, None, MISSING), ptype)
        if isinstance(node, PipeNode):
            return self.validate(node, self.eval_pipeline(dot, node), ptype)
        if isinstance(node, IdentifierNode):
            return self.validate(node, self.eval_function(dot, node, node, None, MISSING), ptype)
        if isinstance(node, ChainNode):
            return self.validate(node, self.eval_chain_node(dot, node, None, MISSING), ptype)
        if ptype is ParamType.STRING:
            if isinstance(node, StringNode):
                return node.text
            raise self.fail(node, f"expected string; found {node}")
        # interface{} and reflect.Value parameters take any constant
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, StringNode):
            return node.text
        raise self.fail(node, f"can't handle {node} for arg of type {_PARAM_NAMES[ptype]}")  # pragma: no cover
