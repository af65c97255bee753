"""Errors of the profile store."""

import uuid

from cdp.errors import Conflict, NotFound


class ProfileNotFound(NotFound):
    slug = "profile-not-found"
    title = "Profile not found"

    def __init__(self, profile_id: uuid.UUID) -> None:
        super().__init__(f"no profile {profile_id}", profile_id=str(profile_id))


class ProfileMerged(Conflict):
    """The profile was merged into another; callers follow `survivor_id` (the API answers 308)."""

    slug = "profile-merged"
    title = "Profile was merged"

    def __init__(self, profile_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
        super().__init__(f"profile {profile_id} was merged into {survivor_id}", survivor_id=str(survivor_id))
        self.profile_id = profile_id
        self.survivor_id = survivor_id
