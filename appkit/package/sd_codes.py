"""Diagnostic codes for .sd and .profile files (AK200-AK249), registered with an example and the fix.

Kept in one place so docs/diagnostics.md lists them together and modules share them.
"""

from __future__ import annotations

from appkit.diagnostics import rule

AK200 = rule("AK200", "schema syntax error", example="rank-profile p inherits default\n  first-phase { ... }",
             fix="follow the schema grammar: the message says what was expected where")
AK201 = rule("AK201", "invalid character in schema file", example="a no-break space (U+00A0) or '//' comment",
             fix="use plain spaces and '#' comments")
AK202 = rule("AK202", "schema file name does not match the schema name",
             example="schemas/notmusic.sd containing `schema music`", fix="rename the file to music.sd")
AK203 = rule("AK203", "more than one document in a schema",
             example="two `document` blocks in one .sd file", fix="keep one document per schema file")
AK204 = rule("AK204", "schema file is empty", example="an .sd file with only comments",
             fix="add `schema NAME { document NAME { ... } }`")
AK210 = rule("AK210", "invalid tensor type", example="field t type tensor(x[2.5]) { ... }",
             fix="write dimensions as x[N] (indexed), x[] or x{} (mapped)")
AK211 = rule("AK211", "reserved name used as a field name", example="field index type string { }",
             fix="rename the field; Vespa reserves index, summary, attribute, documentid, relevancy, ...")
AK212 = rule("AK212", "function defined twice in a rank profile",
             example="two `function f()` blocks in rank-profile p", fix="remove or rename one of them")
AK213 = rule("AK213", "setting value out of range", example="filter-threshold: 1.5",
             fix="use a value in [0, 1]")
AK214 = rule("AK214", "'..' in a file path", example="file: ../models/m.onnx",
             fix="keep the file inside the application package and refer to it from the package root")
AK215 = rule("AK215", "invalid indexing statement",
             example="indexing: input title | foo | index",
             fix="use indexing-language expressions only: input, attribute, index, summary, lowercase, ...")
AK216 = rule("AK216", "setting needs another kind of number", example="termwise-limit: 1",
             fix="write a decimal number such as 1.0 where Vespa expects one")
AK217 = rule("AK217", "invalid import field", example="import field artist as a {}",
             fix="write `import field REFERENCE_FIELD.TARGET_FIELD as NAME {}`")
AK218 = rule("AK218", "unknown stemming setting", example="stemming: most",
             fix="use one of none, shortest, best, multiple")
