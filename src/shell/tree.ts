// Bridge between tree-sitter-bash and the analyser.
//
// Every property read on a tree-sitter node or cursor is an N-API call (~90 ns on the
// reference machine), which dominates the cost of analysing a short `bash -c` string.
// So the tree is copied once, with a single TreeCursor pass, into plain JS objects that
// carry only what the analyser needs; positions are read only for node types whose text
// is used. Everything after this file is pure JS.

import Parser from 'tree-sitter';
import Bash from 'tree-sitter-bash';

export interface Node {
  type: string;
  named: boolean;
  start: number; // UTF-16 index into the parsed string; -1 when the text is never needed
  end: number;
  kids: Node[];
}

export interface ParsedScript {
  root: Node;
  hasError: boolean;      // tree-sitter produced ERROR or MISSING nodes
  firstError: Node | null;
  truncated: Node | null; // first node whose subtree was cut by MAX_TREE_DEPTH
  ansiC: Node[];          // $'…' strings, simple commands and `…` substitutions:
  commands: Node[];       // tree-sitter may delimit them differently from bash
  backticks: Node[];      // (see faithful.ts)
}

// Syntactic nesting bound (not the nested-shell depth): keeps the recursive analyser far
// from the JS stack limit on inputs like 5000 nested `$(`.
export const MAX_TREE_DEPTH = 400;

// Nodes whose own text is never looked at (saves two N-API calls each); the analyser
// derives a command's text from its words.
const NO_TEXT = new Set([
  'program', 'list', 'pipeline', 'subshell', 'compound_statement', 'do_group',
  'if_statement', 'elif_clause', 'else_clause', 'while_statement', 'for_statement',
  'c_style_for_statement', 'case_statement', 'case_item', 'function_definition',
  'redirected_statement', 'negated_command', 'test_command', 'command_name',
  'binary_expression', 'unary_expression', 'parenthesized_expression',
  'ternary_expression', 'postfix_expression', 'string_content', 'heredoc_content',
  'comment', 'variable_assignments', 'herestring_redirect', 'heredoc_redirect',
  'file_redirect', 'command', 'declaration_command', 'unset_command',
]);
// Word-like nodes whose children matter only if they may hold a substitution (or text
// that faithful.ts checks): otherwise their text says it all and the subtree is skipped.
const SHALLOW = new Set([
  'string', 'concatenation', 'simple_expansion', 'expansion', 'arithmetic_expansion',
  'translated_string', 'number', 'variable_assignment',
]);
const DEEP_TEXT = /\$\(|`|<\(|>\(|\n|\$'/;

// Named nodes that never have children, or whose children are not used (here-document
// bodies are scanned as text, see heredoc.ts): saves the gotoFirstChild call or more.
const LEAVES = new Set([
  'heredoc_body', 'word', 'raw_string', 'ansi_c_string', 'variable_name', 'string_content', 'comment',
  'file_descriptor', 'heredoc_start', 'heredoc_end', 'heredoc_content', 'special_variable_name',
  'test_operator', 'regex', 'extglob_pattern',
]);

const POSITIONED_TOKENS = new Set(['$', 'export', 'declare', 'typeset', 'local', 'readonly', 'unset', 'unsetenv']);

interface TypeInfo { type: string; named: boolean; text: boolean; leaf: boolean }
const types: (TypeInfo | undefined)[] = [];
let parser: Parser | null = null;

function getParser(): Parser {
  if (!parser) {
    parser = new Parser();
    parser.setLanguage(Bash as unknown as Parser.Language);
  }
  return parser;
}

function typeOf(c: Parser.TreeCursor): TypeInfo {
  const id = c.nodeTypeId;
  let info = types[id];
  if (!info) {
    const type = c.nodeType;
    const named = c.nodeIsNamed;
    // anonymous tokens are their own text; positions only for `$` (which may prefix a $"…"
    // string) and declaration keywords (which start a command's text)
    info = { type, named, text: named ? !NO_TEXT.has(type) : POSITIONED_TOKENS.has(type), leaf: !named || LEAVES.has(type) };
    types[id] = info;
  }
  return info;
}

let parseDeadline = Infinity;
const pastParseDeadline = () => performance.now() > parseDeadline; // tree-sitter calls it only on long parses
/** Below this a parse is quick whatever the input (its superlinear cases need kilobytes); the tree walk checks the deadline anyway. */
const WATCHED_PARSE_CHARS = 1024;

/**
 * null when the deadline (a performance.now() value) passes first: tree-sitter-bash is
 * superlinear on some inputs (a 64 KiB `a | a | …` takes seconds).
 */
export function parseScript(src: string, deadline = Infinity): ParsedScript | null {
  const p = getParser();
  // node-tree-sitter keeps every progressCallback it is given (a persistent reference in a
  // native object it never frees): one module-level function reading a module-level deadline,
  // and only for scripts long enough for a parse to run slow, leaks nothing per command.
  parseDeadline = deadline;
  const tree = p.parse(src, null, {
    bufferSize: Math.min(src.length + 1, 1 << 15), // the default 32 Ki units are zeroed per parse
    ...(deadline !== Infinity && src.length >= WATCHED_PARSE_CHARS ? { progressCallback: pastParseDeadline } : {}),
  }) as Parser.Tree | null;
  if (!tree) {
    p.reset();
    return null;
  }
  const rootNode = tree.rootNode;
  // (TreeCursor.reset ignores its argument in this binding, so no cursor is reused)
  const c = rootNode.walk();
  const root: Node = { type: 'program', named: true, start: -1, end: -1, kids: [] };
  const out: ParsedScript = { root, hasError: rootNode.hasError, firstError: null, truncated: null, ansiC: [], commands: [], backticks: [] };
  const stack: Node[] = [root];
  if (!c.gotoFirstChild()) return out;
  for (let count = 1; ; count++) {
    if ((count & 0xfff) === 0 && performance.now() > deadline) return null;
    const t = typeOf(c);
    const node: Node = t.text
      ? { type: t.type, named: t.named, start: c.startIndex, end: c.endIndex, kids: [] }
      : { type: t.type, named: t.named, start: -1, end: -1, kids: [] };
    stack[stack.length - 1]!.kids.push(node);
    if (node.type === 'ERROR') out.firstError ??= node;
    else if (node.type === 'ansi_c_string') out.ansiC.push(node);
    else if (node.type === 'command' || node.type === 'declaration_command') out.commands.push(node);
    else if (node.type === 'command_substitution' && src.charCodeAt(node.start) === 96) out.backticks.push(node);
    const leaf = t.leaf || (SHALLOW.has(t.type) && !DEEP_TEXT.test(src.slice(node.start, node.end)));
    if (!leaf && c.gotoFirstChild()) {
      if (stack.length < MAX_TREE_DEPTH) {
        stack.push(node);
        continue;
      }
      c.gotoParent();
      out.truncated ??= node;
    }
    while (!c.gotoNextSibling()) {
      c.gotoParent();
      stack.pop();
      if (stack.length === 0) return out;
    }
  }
}

/** Start of the first positioned node in the subtree (structural nodes carry none), or -1. */
export function firstPos(n: Node): number {
  if (n.start >= 0) return n.start;
  for (const k of n.kids) {
    const p = firstPos(k);
    if (p >= 0) return p;
  }
  return -1;
}

/** End of the last positioned node in the subtree, or -1. */
export function lastPos(n: Node): number {
  if (n.end >= 0) return n.end;
  for (let i = n.kids.length - 1; i >= 0; i--) {
    const p = lastPos(n.kids[i]!);
    if (p >= 0) return p;
  }
  return -1;
}
