import { Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { isRowId } from '../database/row-id.js';
import { Transactions } from '../database/transactions.js';
import { COMMENT_ADDED, COMMENT_CREATED, POST_CREATED, POSTS_TOPIC, postTopic } from '../events/event-types.js';
import { Intake } from '../intake/intake.service.js';
import { Comment } from './comment.entity.js';
import { Post } from './post.entity.js';

const EXCERPT_CODE_POINTS = 140;

export interface PostView {
  id: string;
  authorId: string;
  title: string;
  body: string;
  createdAt: string;
}

export interface CommentView {
  id: string;
  postId: string;
  authorId: string;
  body: string;
  createdAt: string;
}

/** The sample producer: posts and comments, the notifications a comment causes, and their events for viewers. */
@Injectable()
export class CommentsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
    private readonly intake: Intake,
  ) {}

  /** Stores the post and, in the same transaction, the outbox entry that shows it to every viewer of the list (its topic). */
  async createPost(authorId: string, title: string, body: string): Promise<PostView> {
    const post = await this.transactions.run(async (manager) => {
      const saved = postView(await manager.save(Post, { authorId, title, body, createdAt: new Date().toISOString() }));
      const listed = { id: saved.id, authorId, title, createdAt: saved.createdAt };
      await this.intake.addPersisted(manager, { type: POST_CREATED, data: listed, recipients: [], topics: [POSTS_TOPIC] });
      return saved;
    });
    this.intake.committed('comments', 1, 1);
    return post;
  }

  async listPosts(limit: number): Promise<PostView[]> {
    const posts = await this.dataSource.getRepository(Post).find({ order: { id: 'DESC' }, take: limit });
    return posts.map(postView);
  }

  async getPost(postId: string): Promise<PostView & { comments: CommentView[] }> {
    const post = await this.findPost(this.dataSource.manager, postId);
    const comments = await this.dataSource.getRepository(Comment).find({ where: { postId }, order: { id: 'ASC' } });
    return { ...postView(post), comments: comments.map(commentView) };
  }

  /**
   * Stores the comment, notifies the post's author and every earlier
   * commenter but the commenter, and shows it to every viewer of the post
   * (its topic), in one transaction with the outbox entries that deliver
   * them: all happen, or none.
   */
  async createComment(postId: string, authorId: string, body: string): Promise<CommentView> {
    const { comment, notified } = await this.transactions.run(async (manager) => {
      // Locked, so that concurrent comments on the post take turns and each
      // sees the commenters before it (SQLite takes writes one at a time anyway).
      const post = await this.findPost(manager, postId, true);
      const earlier = await manager
        .getRepository(Comment)
        .createQueryBuilder('c')
        .select('DISTINCT c.author_id', 'authorId')
        .where('c.post_id = :postId', { postId })
        .getRawMany<{ authorId: string }>();
      const saved = await manager
        .getRepository(Comment)
        .save({ postId, authorId, body, createdAt: new Date().toISOString() });
      const recipients = [...new Set([post.authorId, ...earlier.map((c) => c.authorId)])].filter((u) => u !== authorId);
      if (recipients.length > 0) {
        const data = { postId: String(post.id), commentId: String(saved.id), authorId, excerpt: excerpt(body) };
        await this.intake.addPersisted(manager, { type: COMMENT_CREATED, data, recipients });
      }
      const view = commentView(saved);
      await this.intake.addPersisted(manager, { type: COMMENT_ADDED, data: { ...view }, recipients: [], topics: [postTopic(view.postId)] });
      return { comment: saved, notified: recipients.length > 0 };
    });
    this.intake.committed('comments', notified ? 2 : 1, 1);
    return commentView(comment);
  }

  private async findPost(manager: EntityManager, postId: string, forUpdate = false): Promise<Post> {
    const lock = forUpdate && manager.connection.options.type === 'postgres';
    const post = isRowId(postId)
      ? await manager
          .getRepository(Post)
          .findOne({ where: { id: postId }, ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}) })
      : null;
    if (!post) throw new NotFoundException(`post ${postId} does not exist`);
    return post;
  }
}

/** The first 140 characters, never cutting a character made of two UTF-16 units in half. */
export function excerpt(body: string): string {
  return Array.from(body).slice(0, EXCERPT_CODE_POINTS).join('');
}

function postView(post: Post): PostView {
  return { id: String(post.id), authorId: post.authorId, title: post.title, body: post.body, createdAt: post.createdAt };
}

function commentView(comment: Comment): CommentView {
  return {
    id: String(comment.id),
    postId: String(comment.postId),
    authorId: comment.authorId,
    body: comment.body,
    createdAt: comment.createdAt,
  };
}
