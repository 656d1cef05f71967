"""Reading clocks: the data and its targets, the pretrained backbone, training and evaluation of one reader."""
