// SPDX-License-Identifier: GPL-2.0

//! Which block drivers can poll, and what gives them poll queues: for the
//! refusal of a coredump disk that cannot take the panic path's polled I/O.
//! The list is the 6.12 tree's (`mq_poll` of SCSI hosts, `poll` of blk-mq
//! drivers); the admin guide has the same table.

/// The setting that gives `driver` (its name as the kernel's driver core
/// knows it) poll queues, if it can have any.
pub fn poll_setting(driver: &str) -> Option<&'static str> {
    Some(match driver {
        "nvme" => "nvme.poll_queues=1",
        "virtio_blk" => "virtio_blk.poll_queues=1",
        "virtio_scsi" => "virtio_scsi.virtscsi_poll_queues=1",
        "mpt3sas" => "mpt3sas.poll_queues=1",
        "megaraid_sas" => "megaraid_sas.poll_queues=1",
        "mpi3mr" => "mpi3mr.poll_queues=1",
        "hisi_sas_v3_hw" => "hisi_sas_v3_hw.experimental_iopoll_q_cnt=1",
        "nvme-tcp" | "nvme-rdma" => "nvme connect --nr-poll-queues=1",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_polling_driver_has_its_setting_and_others_none() {
        assert_eq!(poll_setting("nvme"), Some("nvme.poll_queues=1"));
        assert_eq!(poll_setting("virtio_scsi"), Some("virtio_scsi.virtscsi_poll_queues=1"));
        assert_eq!(poll_setting("hisi_sas_v3_hw"), Some("hisi_sas_v3_hw.experimental_iopoll_q_cnt=1"));
        for none in ["", "sd", "ahci", "iscsi_tcp", "nvme.poll_queues", "NVME"] {
            assert_eq!(poll_setting(none), None, "{none:?}");
        }
    }
}
