"""Data sets, registered for config sections: `build_from_cfg(cfg['data']['train'], DATASETS)`."""
from utils.registry import Registry

from datasets.adobe240 import Adobe240Test
from datasets.common import DatasetError
from datasets.gopro import GoProTest, GoProTrain
from datasets.mixed import Mixed
from datasets.synthetic import SyntheticMotion
from datasets.video_folder import VideoFolderTrain
from datasets.vimeo import Vimeo90KTest, Vimeo90KTrain

DATASETS = Registry("dataset")
for _cls, _aliases in (
    (Vimeo90KTrain, ("datasets.vimeo_datasets.Vimeo90K_Train_Dataset",)),
    (Vimeo90KTest, ("datasets.vimeo_datasets.Vimeo90K_Test_Dataset",)),
    (GoProTrain, ("datasets.gopro_datasets.GoPro_Train_Dataset",)),
    (GoProTest, ("datasets.gopro_datasets.GoPro_Test_Dataset",)),
    (Adobe240Test, ("datasets.adobe_datasets.Adobe240_Dataset",)),
    (VideoFolderTrain, ()),
    (SyntheticMotion, ()),
    (Mixed, ()),
):
    DATASETS.register(*_aliases)(_cls)

__all__ = ["DATASETS", "DatasetError", "Vimeo90KTrain", "Vimeo90KTest", "GoProTrain",
           "GoProTest", "Adobe240Test", "VideoFolderTrain", "SyntheticMotion", "Mixed"]
