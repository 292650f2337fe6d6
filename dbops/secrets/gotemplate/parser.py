"""Parser for Go template syntax, a port of ``text/template/parse/parse.go`` for the supported subset.

Supported: text, comments, trim markers, actions with pipelines, variable declaration and assignment, parenthesised
pipelines, field chains, literals, function calls, ``if``/``else if``/``else``, ``with``/``else with``/``else``,
``range``/``else``. ``define``, ``template``, ``block``, ``break`` and ``continue`` are outside the documented subset
and fail. As in Go, every function name is checked at parse time and every variable must be declared before use.
"""

from __future__ import annotations

from collections.abc import Collection

from dbops.secrets.gotemplate.errors import Failure
from dbops.secrets.gotemplate.lexer import Lexer, Token, TokenType
from dbops.secrets.gotemplate.literals import (
    SyntaxErr,
    parse_float,
    parse_int,
    parse_uint,
    unquote,
    unquote_char,
)
from dbops.secrets.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    ChainNode,
    CommandNode,
    DotNode,
    ElseNode,
    EndNode,
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

__all__ = ["parse"]

T = TokenType

_UNSUPPORTED = {
    T.BLOCK: "block",
    T.TEMPLATE: "template",
    T.BREAK: "break",
    T.CONTINUE: "continue",
    T.DEFINE: "define",
}


def parse(source: str, functions: Collection[str]) -> ListNode:
    """Parse ``source`` into a tree; raise :class:`Failure` with a character offset on any error."""
    return _Parser(source, functions).parse()


class _Parser:
    def __init__(self, source: str, functions: Collection[str]) -> None:
        self.lex = Lexer(source)
        self.functions = functions
        self.token: list[Token] = [Token(T.EOF, 0, "")] * 3
        self.peek_count = 0
        self.vars: list[str] = ["$"]
        self.last_pos = 0

    # -- token buffer (Go's three-token look-ahead) -----------------------------------------------------------------

    def next(self) -> Token:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_token()
        tok = self.token[self.peek_count]
        self.last_pos = tok.pos
        return tok

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Token) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Token, t1: Token) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Token:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_token()
        return self.token[0]

    def next_non_space(self) -> Token:
        while True:
            tok = self.next()
            if tok.typ is not T.SPACE:
                return tok

    def peek_non_space(self) -> Token:
        tok = self.next_non_space()
        self.backup()
        return tok

    # -- errors ------------------------------------------------------------------------------------------------------

    def error(self, message: str, pos: int | None = None) -> Failure:
        return Failure(self.last_pos if pos is None else pos, message)

    def unexpected(self, tok: Token, context: str) -> Failure:
        if tok.typ is T.ERROR:
            return self.error(tok.val, tok.pos)
        return self.error(f"unexpected {tok} in {context}", tok.pos)

    def expect(self, expected: TokenType, context: str) -> Token:
        tok = self.next_non_space()
        if tok.typ is not expected:
            raise self.unexpected(tok, context)
        return tok

    # -- grammar -----------------------------------------------------------------------------------------------------

    def parse(self) -> ListNode:
        root = ListNode(self.peek().pos)
        while self.peek().typ is not T.EOF:
            if self.peek().typ is T.LEFT_DELIM:
                delim = self.next()
                kw = self.next_non_space()
                if kw.typ is T.DEFINE:
                    raise self.error("{{define}} is not supported in secret templates", kw.pos)
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, EndNode):
                raise self.error("unexpected {{end}}", n.pos)
            if isinstance(n, ElseNode):
                raise self.error("unexpected {{else}}", n.pos)
            root.nodes.append(n)
        return root

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ is not T.EOF:
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                return lst, n
            lst.nodes.append(n)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ is T.TEXT:
            return TextNode(tok.pos, tok.val)
        if tok.typ is T.LEFT_DELIM:
            return self.action()
        raise self.unexpected(tok, "input")

    def action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ in _UNSUPPORTED:
            raise self.error(f"{{{{{_UNSUPPORTED[tok.typ]}}}}} is not supported in secret templates", tok.pos)
        if tok.typ is T.ELSE:
            return self.else_control(tok)
        if tok.typ is T.END:
            self.expect(T.RIGHT_DELIM, "end")
            return EndNode(tok.pos)
        if tok.typ is T.IF:
            return IfNode(*self.parse_control("if"))
        if tok.typ is T.RANGE:
            return RangeNode(*self.parse_control("range"))
        if tok.typ is T.WITH:
            return WithNode(*self.parse_control("with"))
        self.backup()
        pos = self.peek().pos
        # Variables declared by a plain action persist until the enclosing {{end}}.
        return ActionNode(pos, self.pipeline("command", T.RIGHT_DELIM))

    def else_control(self, tok: Token) -> Node:
        if self.peek_non_space().typ in (T.IF, T.WITH):
            return ElseNode(tok.pos)
        self.expect(T.RIGHT_DELIM, "else")
        return ElseNode(tok.pos)

    def parse_control(self, context: str) -> tuple[int, PipeNode, ListNode, ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, T.RIGHT_DELIM)
            lst, nxt = self.item_list()
            else_list: ListNode | None = None
            if isinstance(nxt, ElseNode):
                if context == "if" and self.peek().typ is T.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [IfNode(*self.parse_control("if"))])
                elif context == "with" and self.peek().typ is T.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, [WithNode(*self.parse_control("with"))])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        raise self.error("expected end; found {{else}}", nxt.pos)
            return pipe.pos, pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def pipeline(self, context: str, end: TokenType) -> PipeNode:
        pipe = PipeNode(self.peek_non_space().pos)
        while True:  # declarations ("goto decls" in Go)
            v = self.peek_non_space()
            if v.typ is not T.VARIABLE:
                break
            self.next()
            token_after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.typ is T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val.split(".")))
                self.vars.append(v.val)
                break
            if nxt.typ is T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val.split(".")))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            if token_after_variable.typ is T.SPACE:
                self.backup3(v, token_after_variable)
            else:
                self.backup2(v)
            break
        while True:
            tok = self.next_non_space()
            if tok.typ is end:
                self.check_pipeline(pipe, context)
                return pipe
            if tok.typ in (
                T.BOOL,
                T.CHAR_CONSTANT,
                T.COMPLEX,
                T.DOT,
                T.FIELD,
                T.IDENTIFIER,
                T.NUMBER,
                T.NIL,
                T.RAW_STRING,
                T.STRING,
                T.VARIABLE,
                T.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                raise self.error(f"non executable command in pipeline stage {i + 2}", cmd.pos)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ is T.SPACE:
                continue
            if tok.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif tok.typ is not T.PIPE:
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ is T.FIELD:
            pos = self.peek().pos
            fields: list[str] = []
            while self.peek().typ is T.FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(pos, node.idents + fields)
            if isinstance(node, VariableNode):
                return VariableNode(pos, node.idents + fields)
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                raise self.error(f"unexpected . after term {str(node)!r}", pos)
            return ChainNode(pos, node, fields)
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        typ = tok.typ
        if typ is T.IDENTIFIER:
            if tok.val not in self.functions:
                raise self.error(f"function {tok.val!r} not defined", tok.pos)
            return IdentifierNode(tok.pos, tok.val)
        if typ is T.DOT:
            return DotNode(tok.pos)
        if typ is T.NIL:
            return NilNode(tok.pos)
        if typ is T.VARIABLE:
            idents = tok.val.split(".")
            if idents[0] not in self.vars:
                raise self.error(f"undefined variable {idents[0]!r}", tok.pos)
            return VariableNode(tok.pos, idents)
        if typ is T.FIELD:
            return FieldNode(tok.pos, tok.val[1:].split("."))
        if typ is T.BOOL:
            return BoolNode(tok.pos, tok.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            return self.number(tok)
        if typ is T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            try:
                return StringNode(tok.pos, tok.val, unquote(tok.val))
            except SyntaxErr:
                raise self.error("invalid syntax", tok.pos) from None
        self.backup()
        return None

    def number(self, tok: Token) -> NumberNode:
        """Go's ``newNumber``: every interpretation (int, uint, float) the text allows."""
        text = tok.val
        n = NumberNode(tok.pos, text)
        if tok.typ is T.CHAR_CONSTANT:
            try:
                value, _, end = unquote_char(text, 1, "'")
            except SyntaxErr:
                raise self.error("invalid syntax", tok.pos) from None
            if text[end:] != "'":
                raise self.error(f"malformed character constant: {text}", tok.pos)
            n.is_int = n.is_uint = n.is_float = True
            n.int_value = n.uint_value = value
            n.float_value = float(value)
            return n
        if tok.typ is T.COMPLEX or text.endswith("i"):
            raise self.error(f"complex number {text} is not supported in secret templates", tok.pos)
        u = parse_uint(text)
        if u is not None:
            n.is_uint, n.uint_value = True, u
        i = parse_int(text)
        if i is not None:
            n.is_int, n.int_value = True, i
            if i == 0:
                n.is_uint, n.uint_value = True, 0
        if n.is_int:
            n.is_float, n.float_value = True, float(n.int_value)
        elif n.is_uint:
            n.is_float, n.float_value = True, float(n.uint_value)
        else:
            f = parse_float(text)
            if f is not None:
                if not any(c in text for c in ".eEpP"):
                    raise self.error(f"integer overflow: {text!r}", tok.pos)
                n.is_float, n.float_value = True, f
                if f == int(f) and -(1 << 63) <= int(f) < (1 << 63):
                    n.is_int, n.int_value = True, int(f)
                if f == int(f) and 0 <= int(f) < (1 << 64):
                    n.is_uint, n.uint_value = True, int(f)
        if not (n.is_int or n.is_uint or n.is_float):
            raise self.error(f"illegal number syntax: {text!r}", tok.pos)
        return n
