"""The job side of RL training: what runs inside the scheduler job (`python -m core.rl.jobside`).

cluster.py starts this job's own Ray cluster on the job's ports, train.py trains from a training
spec (core.rl.trainspec), predict.py replays a checkpoint. Ray is imported only here, never by the portal.
"""
