/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of the forwarders in shims.c; the Rust side is shims.rs. */
#ifndef CORETAKEOVER_SHIMS_H
#define CORETAKEOVER_SHIMS_H

#include <linux/blkdev.h>
#include <linux/notifier.h>
#include <linux/debugfs.h>

blk_mode_t ct_blk_open_read_write(void);
blk_mode_t ct_blk_open_read(void);
bool ct_bdev_is_dm(struct block_device *bdev);
u64 ct_bdev_nr_bytes(struct block_device *bdev);
bool ct_bdev_polls(struct block_device *bdev);
bool ct_bdev_write_cache(struct block_device *bdev);
bool ct_bdev_has_scheduler(struct block_device *bdev);
unsigned int ct_bdev_max_segments(struct block_device *bdev);
unsigned int ct_bdev_max_sectors(struct block_device *bdev);
unsigned int ct_bdev_max_segment_size(struct block_device *bdev);
unsigned int ct_bdev_logical_block_size(struct block_device *bdev);
bool ct_bdev_virtio_indirect(struct block_device *bdev);
const char *ct_bdev_driver(struct block_device *bdev);
void ct_disk_drop_cache(struct block_device *bdev);
void *ct_phys_to_virt(phys_addr_t phys);
unsigned long ct_page_offset(void);
unsigned long ct_memmap_base(void);
unsigned long ct_struct_page_size(void);
struct page *ct_virt_to_page(const void *addr);
const char *ct_kernel_release(void);
unsigned int ct_processor_id(void);
bool ct_in_nmi(void);
u64 ct_panic_clock_ns(void);
void ct_udelay(unsigned long us);
void ct_bdev_panic_no_iostat(struct block_device *bdev);
struct pt_regs;
void ct_panic_registers(struct pt_regs *regs);
int ct_panic_notifier_register(struct notifier_block *nb);
int ct_panic_notifier_unregister(struct notifier_block *nb);
void ct_debugfs_init(u32 *panic_after_mib);
void ct_debugfs_exit(void);
int ct_pr_register(struct block_device *bdev, u64 old_key, u64 new_key, u32 flags);
int ct_pr_reserve(struct block_device *bdev, u64 key, u32 type, u32 flags);
int ct_pr_release(struct block_device *bdev, u64 key, u32 type);
int ct_pr_preempt(struct block_device *bdev, u64 old_key, u64 new_key, u32 type, bool abort);
bool ct_bdev_is_partition(struct block_device *bdev);
int ct_dm_live_paths(struct block_device *map, dev_t *devs, int max);
int ct_pr_read_reservation(struct block_device *bdev, u64 *key, u32 *type);
int ct_pr_key_registered(struct block_device *bdev, u64 key);
int ct_events_register(struct notifier_block *nb);
int ct_events_unregister(struct notifier_block *nb);
void ct_events_call(void *event);
int ct_lapse_start(u64 period_ns, void (*fn)(void));
void ct_lapse_stop(void);
void ct_hchacha20(const u8 *key, const u8 *in, u8 *out);
struct task_struct *ct_kthread_run(int (*fn)(void *), void *data, const char *name);

struct genl_info;
struct sk_buff;
bool ct_nl_may_change_disks(const struct sk_buff *skb, struct genl_info *info);
int ct_nl_register(void);
void ct_nl_unregister(void);
struct sk_buff *ct_nl_reply_new(struct genl_info *info, void **hdr);
struct sk_buff *ct_nl_event_new(u8 cmd, void **hdr);
int ct_nl_put_u32(struct sk_buff *skb, int type, u32 value);
int ct_nl_put_uint(struct sk_buff *skb, int type, u64 value);
int ct_nl_put_str(struct sk_buff *skb, int type, const char *text, int len);
int ct_nl_put_u8(struct sk_buff *skb, int type, u8 value);
struct nlattr;
struct nlattr *ct_nl_nest_start(struct sk_buff *skb, int type);
void ct_nl_nest_end(struct sk_buff *skb, struct nlattr *nest);
void ct_nl_nest_cancel(struct sk_buff *skb, struct nlattr *nest);
const struct nlattr *ct_nl_next_attr(struct genl_info *info, int type, const struct nlattr *prev);
bool ct_nl_nested_str(const struct nlattr *nest, int type, const char **text, int *len);
void ct_nl_set_err_msg(struct genl_info *info, const char *text, int len);
int ct_nl_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info);
int ct_nl_event_send(struct sk_buff *skb, void *hdr);
void ct_nl_free(struct sk_buff *skb);
bool ct_nl_get_u32(struct genl_info *info, int type, u32 *value);
bool ct_nl_get_str(struct genl_info *info, int type, const char **text, int *len);

struct work_struct;
struct completion;
void ct_init_work(struct work_struct *work, void (*fn)(struct work_struct *));
bool ct_queue_work_unbound(struct work_struct *work);
void ct_init_completion(struct completion *done);

size_t ct_zstd_workspace_size(size_t chunk);
void *ct_zstd_init(void *workspace, size_t size);
size_t ct_zstd_compress(void *cctx, void *dst, size_t cap, const void *src, size_t len, size_t chunk);
size_t ct_lz4_workspace_size(void);
size_t ct_compress_measured(int codec, void *work, void *dst, size_t cap, const void *src,
			    size_t len, size_t chunk, size_t *stack);

#endif
