"""The data layer: preprocess_data writes TFRecords, data_loader reads them with input_ops."""
