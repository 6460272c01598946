"""TensorFlow's protobuf messages, declared at runtime with protobuf's descriptor API.

SavedModel reading must not import tensorflow (3 s, 600 MB) nor need tensorboard; these are the
messages the importer reads, with the field numbers of TensorFlow's .proto files (framework/*.proto,
protobuf/meta_graph.proto, saved_model.proto, saved_object_graph.proto, trackable_object_graph.proto,
tensor_bundle.proto). Fields appkit never reads are left out: binary parsing skips them, and text
parsing is told to (`parse_text(..., allow_unknown_field=True)`). Declared as proto2 so that every
singular field has presence (which member of AttrValue's `value` oneof is set).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

# `message Name` then `number name [repeated] type` (or `map<key,value>`), in TensorFlow's numbering.
_SPEC = """
message AttrValue
  2 s bytes
  3 i int64
  4 f float
  5 b bool
  6 type DataType
  7 shape TensorShapeProto
  8 tensor TensorProto
  1 list AttrValue.ListValue
  10 func NameAttrList
  9 placeholder string
message AttrValue.ListValue
  2 s repeated bytes
  3 i repeated int64
  4 f repeated float
  5 b repeated bool
  6 type repeated DataType
  7 shape repeated TensorShapeProto
  8 tensor repeated TensorProto
  9 func repeated NameAttrList
message BundleEntryProto
  1 dtype DataType
  2 shape TensorShapeProto
  3 shard_id int32
  4 offset int64
  5 size int64
  6 crc32c fixed32
  7 slices repeated TensorSliceProto
message BundleHeaderProto
  1 num_shards int32
  2 endianness BundleHeaderProto.Endianness
message FunctionDef
  1 signature OpDef
  5 attr map<string,AttrValue>
  7 arg_attr map<uint32,FunctionDef.ArgAttrs>
  8 resource_arg_unique_id map<uint32,uint32>
  3 node_def repeated NodeDef
  4 ret map<string,string>
  6 control_ret map<string,string>
message FunctionDef.ArgAttrs
  1 attr map<string,AttrValue>
message FunctionDefLibrary
  1 function repeated FunctionDef
message GraphDef
  1 node repeated NodeDef
  4 versions VersionDef
  3 version int32
  2 library FunctionDefLibrary
message MetaGraphDef
  1 meta_info_def MetaGraphDef.MetaInfoDef
  2 graph_def GraphDef
  5 signature_def map<string,SignatureDef>
  7 object_graph_def SavedObjectGraph
message MetaGraphDef.MetaInfoDef
  1 meta_graph_version string
  2 stripped_op_list OpList
  4 tags repeated string
  5 tensorflow_version string
  7 stripped_default_attrs bool
  8 function_aliases map<string,string>
message NameAttrList
  1 name string
  2 attr map<string,AttrValue>
message NodeDef
  1 name string
  2 op string
  3 input repeated string
  4 device string
  5 attr map<string,AttrValue>
message OpDef
  1 name string
  2 input_arg repeated OpDef.ArgDef
  3 output_arg repeated OpDef.ArgDef
  4 attr repeated OpDef.AttrDef
message OpDef.ArgDef
  1 name string
  3 type DataType
  4 type_attr string
  5 number_attr string
  6 type_list_attr string
  16 is_ref bool
message OpDef.AttrDef
  1 name string
  2 type string
  3 default_value AttrValue
message OpList
  1 op repeated OpDef
message SavedConcreteFunction
  2 bound_inputs repeated int32
message SavedModel
  1 saved_model_schema_version int64
  2 meta_graphs repeated MetaGraphDef
message SavedObject
  1 children repeated TrackableObjectGraph.TrackableObject.ObjectReference
  4 user_object SavedUserObject
  7 variable SavedVariable
  13 registered_name string
message SavedObjectGraph
  1 nodes repeated SavedObject
  2 concrete_functions map<string,SavedConcreteFunction>
message SavedUserObject
  1 identifier string
  2 version VersionDef
  3 metadata string
message SavedVariable
  1 dtype DataType
  2 shape TensorShapeProto
  3 trainable bool
  6 name string
  7 device string
message SignatureDef
  1 inputs map<string,TensorInfo>
  2 outputs map<string,TensorInfo>
  3 method_name string
  4 defaults map<string,TensorProto>
message TensorInfo
  1 name string
  2 dtype DataType
  3 tensor_shape TensorShapeProto
message TensorProto
  1 dtype DataType
  2 tensor_shape TensorShapeProto
  3 version_number int32
  4 tensor_content bytes
  13 half_val repeated int32
  5 float_val repeated float
  6 double_val repeated double
  7 int_val repeated int32
  8 string_val repeated bytes
  9 scomplex_val repeated float
  10 int64_val repeated int64
  11 bool_val repeated bool
  12 dcomplex_val repeated double
  16 uint32_val repeated uint32
  17 uint64_val repeated uint64
  18 float8_val bytes
message TensorShapeProto
  2 dim repeated TensorShapeProto.Dim
  3 unknown_rank bool
message TensorShapeProto.Dim
  1 size int64
  2 name string
message TensorSliceProto
  1 extent repeated TensorSliceProto.Extent
message TensorSliceProto.Extent
  1 start int64
  2 length int64
message TrackableObjectGraph
  1 nodes repeated TrackableObjectGraph.TrackableObject
message TrackableObjectGraph.TrackableObject
  1 children repeated TrackableObjectGraph.TrackableObject.ObjectReference
  2 attributes repeated TrackableObjectGraph.TrackableObject.SerializedTensor
message TrackableObjectGraph.TrackableObject.ObjectReference
  1 node_id int32
  2 local_name string
message TrackableObjectGraph.TrackableObject.SerializedTensor
  1 name string
  2 full_name string
  3 checkpoint_key string
message TrackableObjectGraph.TrackableObject.SlotVariableReference
  1 original_variable_node_id int32
  2 slot_name string
  3 slot_variable_node_id int32
message VersionDef
  1 producer int32
  2 min_consumer int32
  3 bad_consumers repeated int32
"""

# DataType values (tensorflow/core/framework/types.proto); the _REF variants are value + 100.
DATA_TYPES: dict[str, int] = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5,
    "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11,
    "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16,
    "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21,
    "DT_UINT32": 22, "DT_UINT64": 23, "DT_FLOAT8_E5M2": 24, "DT_FLOAT8_E4M3FN": 25,
    "DT_FLOAT8_E4M3FNUZ": 26, "DT_FLOAT8_E4M3B11FNUZ": 27, "DT_FLOAT8_E5M2FNUZ": 28, "DT_INT4": 29,
    "DT_UINT4": 30, "DT_INT2": 31, "DT_UINT2": 32, "DT_FLOAT4_E2M1FN": 33,
}
DATA_TYPE_NAMES: dict[int, str] = {v: k for k, v in DATA_TYPES.items()}

_SCALARS = {
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "fixed32": descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32,
}
_ENUMS = {"DataType", "BundleHeaderProto.Endianness"}
_FDP = descriptor_pb2.FieldDescriptorProto


def _set_type(field: Any, type_name: str) -> None:
    if type_name in _SCALARS:
        field.type = _SCALARS[type_name]
    else:
        field.type = _FDP.TYPE_ENUM if type_name in _ENUMS else _FDP.TYPE_MESSAGE
        field.type_name = ".tensorflow." + type_name


def _add_field(message: Any, full_name: str, number: int, name: str, type_text: str) -> None:
    field = message.field.add(name=name, number=number, label=_FDP.LABEL_OPTIONAL)
    if type_text.startswith("repeated "):
        field.label = _FDP.LABEL_REPEATED
        type_text = type_text[len("repeated "):]
    if type_text.startswith("map<"):
        key, value = type_text[4:-1].split(",")
        entry_name = "".join(p.capitalize() for p in name.split("_")) + "Entry"
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        _add_field(entry, f"{full_name}.{entry_name}", 1, "key", key)
        _add_field(entry, f"{full_name}.{entry_name}", 2, "value", value)
        field.label = _FDP.LABEL_REPEATED
        field.type = _FDP.TYPE_MESSAGE
        field.type_name = f".tensorflow.{full_name}.{entry_name}"
        return
    _set_type(field, type_text)


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="appkit/tensorflow_subset.proto", package="tensorflow",
                                             syntax="proto2")
    data_type = fdp.enum_type.add(name="DataType")
    for name, number in DATA_TYPES.items():
        data_type.value.add(name=name, number=number)
    for name, number in DATA_TYPES.items():
        if number:
            data_type.value.add(name=name + "_REF", number=number + 100)
    by_name: dict[str, Any] = {}
    current: Any = None
    for line in _SPEC.strip().splitlines():
        parts = line.split(None, 2)
        if parts[0] == "message":
            full = parts[1]
            parent, _, short = full.rpartition(".")
            container = by_name[parent].nested_type if parent else fdp.message_type
            current = container.add(name=short)
            by_name[full] = current
            if full == "BundleHeaderProto":
                endian = current.enum_type.add(name="Endianness")
                endian.value.add(name="LITTLE", number=0)
                endian.value.add(name="BIG", number=1)
        else:
            _add_field(current, full, int(parts[0]), parts[1], parts[2])
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())


def message_class(full_name: str) -> Any:
    """The generated message class of `tensorflow.<full_name>`, e.g. `message_class("SavedModel")`."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName("tensorflow." + full_name))


SavedModel = message_class("SavedModel")
MetaGraphDef = message_class("MetaGraphDef")
GraphDef = message_class("GraphDef")
NodeDef = message_class("NodeDef")
AttrValue = message_class("AttrValue")
TensorProto = message_class("TensorProto")
TensorShapeProto = message_class("TensorShapeProto")
SignatureDef = message_class("SignatureDef")
TensorInfo = message_class("TensorInfo")
FunctionDefLibrary = message_class("FunctionDefLibrary")
FunctionDef = message_class("FunctionDef")
OpDef = message_class("OpDef")
SavedObjectGraph = message_class("SavedObjectGraph")
TrackableObjectGraph = message_class("TrackableObjectGraph")
BundleHeaderProto = message_class("BundleHeaderProto")
BundleEntryProto = message_class("BundleEntryProto")
TensorSliceProto = message_class("TensorSliceProto")


def parse_binary(cls: Any, data: bytes) -> Any:
    message = cls()
    message.ParseFromString(data)
    return message


def parse_text(cls: Any, text: str) -> Any:
    """Parse the text format, skipping fields this subset does not declare."""
    message = cls()
    text_format.Parse(text, message, allow_unknown_field=True, allow_unknown_extension=True)
    return message
