"""TensorFlow SavedModel import without TensorFlow: reading (protos, savedmodel, checkpoint), graph
forms (graph), op converters (ops/) and the importer (`import_tensorflow_model`)."""
