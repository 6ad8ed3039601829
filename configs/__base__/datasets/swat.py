# SWaT (iTrust, SUTD; 51 dims). Licensed: request it at https://itrust.sutd.edu.sg/itrust-labs_datasets/dataset_info/
# and place the normal and attack csv files under root (names below; set skiprows=1 if a title row precedes the header).
data = dict(
    type="swat",
    root="datasets/SWaT",
    train_file="SWaT_Dataset_Normal_v1.csv",
    test_file="SWaT_Dataset_Attack_v0.csv",
    label_column="Normal/Attack",
    timestamp_column="Timestamp",
    nan_policy="ffill",
    window=100,
    batch_size=32,
)
