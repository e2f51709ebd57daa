"""File formats irc reads and writes without their framework: message schemas built at runtime.

`irc.formats.caffe`: the Caffe messages (NetParameter, LayerParameter, BlobProto, ...) as protobuf classes,
built from the format's field numbers with `google.protobuf.descriptor_pb2`. This layer imports only `irc.ir`.
"""
