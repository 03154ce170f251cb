"""Reading ``.seg`` files and their imports into one :class:`Program`.

``import "path"`` is resolved relative to the importing file; each file is
read once however often it is imported; a cycle of imports is an error.
All definitions of all loaded files share one namespace per kind (blocks,
networks, targets, prune, deform and quantize sections); a name defined twice is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..ir import OPS, Diagnostic, Note, SegError, Span
from ..ir.files import given_directly, read_text
from . import ast
from .builtins import BUILTINS
from .depth import no_gc_pauses
from .evaluate import suggestion
from .parser import parse_text
from .split import SPLIT

__all__ = ["Program", "load_file", "load_text", "parse_source", "read_source"]

_SECTION_KINDS = {ast.PruneDef: "prune", ast.DeformDef: "deform", ast.QuantizeDef: "quantize"}


@dataclass
class Program:
    """Everything a root file defines or imports."""

    root: ast.Module
    modules: list[ast.Module] = field(default_factory=list)
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    networks: dict[str, ast.NetworkDef] = field(default_factory=dict)
    targets: dict[str, ast.TargetDef] = field(default_factory=dict)
    prunes: dict[str, ast.PruneDef] = field(default_factory=dict)
    deforms: dict[str, ast.DeformDef] = field(default_factory=dict)
    quantizes: dict[str, ast.QuantizeDef] = field(default_factory=dict)

    def root_networks(self) -> list[str]:
        return [item.name for item in self.root.items if isinstance(item, ast.NetworkDef)]


def read_source(path: str, span: Span | None = None) -> str:
    """A file's text, or a SegError saying precisely why it cannot be read
    (see :mod:`segc.ir.files`: regular files only, size-limited, UTF-8)."""
    return read_text(path, span)


def parse_source(text: str, path: str, imported_at: Span | None = None) -> ast.Module:
    """Parse a file; a syntax error in a file not named ``*.seg`` (perhaps
    not meant as source at all) gives its position only, never its text
    (text given directly, with a ``<name>`` path, shows as usual)."""
    try:
        return parse_text(text, path)
    except SegError as err:
        first = err.diagnostics[0].span
        if path.endswith(".seg") or given_directly(path) or first is None:
            raise
        where = f"{path}:{first.line}:{first.column}"
        message = "syntax error (the file is not named *.seg, so none of its text is shown)"
        notes = (Note("imported here", imported_at),) if imported_at is not None else ()
        raise SegError(Diagnostic(message, notes=notes, path=where)) from None


def load_file(path: str) -> Program:
    """Load a file and everything it imports."""
    text = read_source(path)
    with no_gc_pauses():
        return _Loader().load_root(path, text)


def load_text(text: str, path: str = "<string>") -> Program:
    """Load source text; its imports are resolved relative to ``path``."""
    with no_gc_pauses():
        return _Loader().load_root(path, text)


class _Loader:
    def __init__(self) -> None:
        self.loaded: dict[str, ast.Module] = {}
        self.stack: list[tuple[str, Span | None]] = []
        self.errors: list[Diagnostic] = []
        self.program: Program | None = None

    def load_root(self, path: str, text: str) -> Program:
        module = self._load(path, text, None)
        program = Program(root=module)
        self.program = program
        for loaded in self.loaded.values():
            program.modules.append(loaded)
            self._register(program, loaded)
        self._check_program(program)
        if self.errors:
            raise SegError(self.errors)
        return program

    def _check_program(self, program: Program) -> None:
        for block in program.blocks.values():
            first: dict[str, ast.Param] = {}
            for param in block.params:
                if param.name in first:
                    self.errors.append(Diagnostic(
                        f"block '{block.name}' has two parameters named '{param.name}'", param.span,
                        (Note("the first one is here", first[param.name].span),),
                    ))
                first.setdefault(param.name, param)
        for section in (*program.prunes.values(), *program.deforms.values(), *program.quantizes.values()):
            if section.network not in program.networks:
                hint = suggestion(section.network, program.networks)
                kind = _SECTION_KINDS[type(section)]
                self.errors.append(Diagnostic(f"{kind} section for unknown network '{section.network}'{hint}",
                                              section.name_span))

    def _load(self, path: str, text: str, span: Span | None) -> ast.Module:
        key = os.path.realpath(path)
        self.stack.append((key, span))
        try:
            module = parse_source(text, path, span)
            for item in module.items:
                if isinstance(item, ast.Import):
                    self._import(module, item)
        finally:
            self.stack.pop()
        self.loaded.setdefault(key, module)
        return module

    def _import(self, importer: ast.Module, item: ast.Import) -> None:
        base = os.path.dirname(importer.source.path)
        path = os.path.normpath(os.path.join(base, item.path))
        if "\0" in path:
            self.errors.append(Diagnostic("an import path cannot contain a NUL character", item.path_span))
            return
        key = os.path.realpath(path)
        chain = [k for k, _ in self.stack]
        if key in chain:
            cycle = [os.path.basename(k) for k in chain[chain.index(key):]] + [os.path.basename(key)]
            self.errors.append(Diagnostic(f"import cycle: {' → '.join(cycle)}", item.path_span))
            return
        if key in self.loaded:
            return
        try:
            self._load(path, read_source(path, item.path_span), item.path_span)
        except SegError as err:
            self.errors.extend(err.diagnostics)

    def _register(self, program: Program, module: ast.Module) -> None:
        tables = {
            ast.BlockDef: program.blocks, ast.NetworkDef: program.networks,
            ast.TargetDef: program.targets, ast.PruneDef: program.prunes, ast.DeformDef: program.deforms,
            ast.QuantizeDef: program.quantizes,
        }
        kinds = {ast.BlockDef: "block", ast.NetworkDef: "network", ast.TargetDef: "target",
                 **{kind: f"{word} section for network" for kind, word in _SECTION_KINDS.items()}}
        for item in module.items:
            table = tables.get(type(item))
            if table is None:
                continue
            name = item.network if isinstance(item, tuple(_SECTION_KINDS)) else item.name
            if name in table:
                first = table[name]
                self.errors.append(Diagnostic(
                    f"{kinds[type(item)]} '{name}' is defined twice", item.name_span,
                    (Note("first defined here", first.name_span),),
                ))
                continue
            if isinstance(item, ast.BlockDef) and (name in OPS or name in BUILTINS or name == SPLIT):
                what = "a built-in function" if name in BUILTINS else "an op"
                self.errors.append(Diagnostic(f"block '{name}' has the name of {what}", item.name_span))
                continue
            table[name] = item
