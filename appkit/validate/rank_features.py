"""The feature names a rank profile can use without defining them: Vespa's backend rank features
(registered in searchlib/src/vespa/searchlib/features/setup.cpp), the model features the config
model rewrites, and the global-phase pseudo-functions. Any other `name(...)` that is not one of the
profile's functions fails Vespa's rank-setup verification when the package is deployed.
Source: ../shared/reference/vespa-syntax.md §2.5.
"""

from __future__ import annotations

BACKEND_FEATURES = frozenset("""
age attribute attributeMatch averageFieldLength bm25 bm25_for_labels closeness closest constant distance
distanceToPath dotProduct elementCompleteness elementSimilarity elementwiseBm25 euclideanDistance fieldInfo
fieldLength fieldMatch fieldTermMatch firstPhase firstPhaseRank flowCompleteness foreach freshness
globalSequence great_circle_distance itemRawScore jaroWinklerDistance match matchCount matches
nativeAttributeMatch nativeDotProduct nativeFieldMatch nativeProximity nativeRank now num_docs_indexed
proximity query queryCompleteness queryTermCount queryTermDocumentFrequency random randomNormal
randomNormalStable rankingExpression rawScore reverseProximity secondPhase subqueries tensorFromLabels
tensorFromLabelsWithOffset tensorFromStructs tensorFromWeightedSet term termDistance termEditDistance
termFieldMd termInfo textSimilarity value elementwise onnx onnxModel
""".split())

# rewritten by the config model (and by appkit's importers) before the backend sees them
MODEL_FEATURES = frozenset({"onnx_vespa", "tensorflow", "xgboost", "lightgbm"})

PSEUDO_FUNCTIONS = frozenset({"normalize_linear", "reciprocal_rank", "reciprocal_rank_fusion", "tokenInputIds",
                              "tokenTypeIds", "tokenAttentionMask", "customTokenInputIds"})

KNOWN_FEATURES = BACKEND_FEATURES | MODEL_FEATURES | PSEUDO_FUNCTIONS
