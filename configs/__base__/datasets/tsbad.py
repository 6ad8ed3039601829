# TSB-AD benchmark files (NNN_<Dataset>_id_<k>_<Domain>_tr_<N>_1st_<M>.csv): rows [:N] train, the whole file is
# scored (TSB-AD's protocol; data.scored=after_train scores rows [N:]). data.files: names, a glob or a File_List csv.
# Get them: python -m data.download tsb-ad-m --root datasets/TSB-AD-M   (or tsb-ad-u --root datasets/TSB-AD-U)
data = dict(type="tsbad", root="datasets/TSB-AD-M", files="*.csv", scored="series", window=100, batch_size=32)
evaluation = dict(vus_window="period")  # TSB-AD's buffer: the dominant period of each series' first feature
