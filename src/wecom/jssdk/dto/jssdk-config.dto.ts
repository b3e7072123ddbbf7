import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength } from 'class-validator';

export class JssdkConfigQueryDto {
  @ApiProperty({
    example: 'https://interviews.example.com/wecom/schedule?id=42',
    description: 'The page that calls wx.config, under FRONTEND_URL; a #fragment is ignored',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(2048)
  url: string;
}

/** What the page passes to wx.config (signature) and wx.agentConfig (agentSignature). */
export class JssdkConfigDto {
  @ApiProperty({ example: 'ww1234567890abcdef' }) corpId: string;
  @ApiProperty({ example: 1000002 }) agentId: number;
  @ApiProperty({ example: 1763888400, description: 'Seconds since the epoch' }) timestamp: number;
  @ApiProperty({ example: 'Wm3WZYTPz0wzccnW' }) nonceStr: string;
  @ApiProperty({ description: 'For wx.config, from the corp jsapi ticket' }) signature: string;
  @ApiProperty({ description: 'For wx.agentConfig, from the app jsapi ticket' })
  agentSignature: string;
}
